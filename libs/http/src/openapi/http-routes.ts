import { INestApplication, RequestMethod, Type } from '@nestjs/common';
import { GUARDS_METADATA, METHOD_METADATA, PATH_METADATA, ROUTE_ARGS_METADATA } from '@nestjs/common/constants';
import { RouteParamtypes } from '@nestjs/common/enums/route-paramtypes.enum';
import { ModulesContainer } from '@nestjs/core';

/** One HTTP route of an app as its decorators declare it. */
export interface HttpRoute {
  /** Lower-case HTTP method, as OpenAPI names operations. */
  method: string;
  /** OpenAPI path template: `/v1/connections/{connectionId}`. */
  path: string;
  controller: Type;
  handler: string;
  /** Controller and method guards. */
  guards: unknown[];
  /** Class-typed @Body() and @Query() parameters. */
  dtos: { in: 'body' | 'query'; type: Type }[];
}

const PLAIN = new Set<unknown>([Object, String, Number, Boolean, Array, undefined]);

const asArray = (value: string | string[] | undefined): string[] => (Array.isArray(value) ? value : [value ?? '']);

/** Nest's `v1/connections` + `:connectionId` as the OpenAPI template `/v1/connections/{connectionId}`. */
export function openApiPath(...segments: string[]): string {
  const path = segments.map((s) => s.replace(/^\/+|\/+$/g, '')).filter(Boolean).join('/');
  return `/${path}`.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
}

/** Every HTTP route of every controller the app registered (NATS handlers have no request method and are skipped). */
export function httpRoutesOf(app: INestApplication): HttpRoute[] {
  const routes: HttpRoute[] = [];
  for (const module of app.get(ModulesContainer).values()) {
    for (const wrapper of module.controllers.values()) {
      const controller = wrapper.metatype as Type | null;
      if (!controller || Reflect.getMetadata(PATH_METADATA, controller) === undefined) continue;
      const prototype = controller.prototype as Record<string, unknown>;
      for (const handler of Object.getOwnPropertyNames(prototype)) {
        const callback = prototype[handler];
        if (handler === 'constructor' || typeof callback !== 'function') continue;
        const method = Reflect.getMetadata(METHOD_METADATA, callback) as RequestMethod | undefined;
        if (method === undefined || Reflect.getMetadata(PATH_METADATA, callback) === undefined) continue;
        const guards = [...(Reflect.getMetadata(GUARDS_METADATA, controller) ?? []), ...(Reflect.getMetadata(GUARDS_METADATA, callback) ?? [])];
        const paramTypes = (Reflect.getMetadata('design:paramtypes', prototype, handler) ?? []) as unknown[];
        const args = (Reflect.getMetadata(ROUTE_ARGS_METADATA, controller, handler) ?? {}) as Record<string, { index: number; data?: unknown }>;
        const dtos = Object.entries(args).flatMap(([key, arg]): HttpRoute['dtos'] => {
          const kind = Number(key.split(':')[0]);
          const type = paramTypes[arg.index];
          if (arg.data !== undefined || PLAIN.has(type) || typeof type !== 'function') return [];
          if (kind === RouteParamtypes.BODY) return [{ in: 'body', type: type as Type }];
          if (kind === RouteParamtypes.QUERY) return [{ in: 'query', type: type as Type }];
          return [];
        });
        for (const base of asArray(Reflect.getMetadata(PATH_METADATA, controller))) {
          for (const own of asArray(Reflect.getMetadata(PATH_METADATA, callback))) {
            routes.push({ method: RequestMethod[method].toLowerCase(), path: openApiPath(base, own), controller, handler, guards, dtos });
          }
        }
      }
    }
  }
  return routes;
}
