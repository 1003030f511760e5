import type { Type } from '@nestjs/common';
import { ApiProperty, ApiPropertyOptions } from '@nestjs/swagger';
import type { MetadataStorage } from 'class-transformer/types/MetadataStorage';
import { targetConstructorToSchema } from 'class-validator-jsonschema';

// class-transformer does not export its metadata storage from the package root; @Type() metadata lives there.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { defaultMetadataStorage } = require('class-transformer/cjs/storage') as { defaultMetadataStorage: MetadataStorage };

type JsonSchema = Record<string, unknown> & { $ref?: string; items?: JsonSchema; properties?: Record<string, JsonSchema>; required?: string[] };

const described = new WeakSet<Type>();

const BUILT_IN = /\/(Object|Array|String|Number|Boolean)$/;

/** A custom validator on a plain-object property comes out as a reference to "Object": it is just an object. */
function withoutBuiltInRefs(schema: JsonSchema): JsonSchema {
  if (schema.$ref && BUILT_IN.test(schema.$ref)) return { type: 'object' };
  return Object.fromEntries(
    Object.entries(schema).map(([key, value]) => {
      if (key === 'properties' && value) return [key, Object.fromEntries(Object.entries(value as Record<string, JsonSchema>).map(([k, v]) => [k, withoutBuiltInRefs(v)]))];
      if (key === 'items' && value && typeof value === 'object') return [key, withoutBuiltInRefs(value as JsonSchema)];
      return [key, value];
    }),
  ) as JsonSchema;
}

/** The JSON schema of a class-validator class: the same constraints the validation pipe enforces. */
export function validationSchemaOf(dto: Type): JsonSchema {
  return withoutBuiltInRefs(targetConstructorToSchema(dto, { classTransformerMetadataStorage: defaultMetadataStorage, refPointerPrefix: '#/components/schemas/' }) as JsonSchema);
}

/**
 * Give a request DTO the OpenAPI metadata @nestjs/swagger reads (what `@ApiProperty` would declare), derived from
 * its class-validator decorators, so the documented body and query parameters are the validated ones and cannot
 * drift from them. Nested classes (`@ValidateNested() @Type(() => X)`) are described as components in turn.
 */
export function describeDto(dto: Type): void {
  if (described.has(dto)) return;
  described.add(dto);
  const schema = validationSchemaOf(dto);
  const required = new Set(schema.required ?? []);
  for (const [name, property] of Object.entries(schema.properties ?? {})) {
    ApiProperty({ ...propertyOptions(dto, name, property), required: required.has(name) } as ApiPropertyOptions)(dto.prototype, name);
  }
}

function propertyOptions(dto: Type, name: string, property: JsonSchema): ApiPropertyOptions {
  const ref = property.$ref ?? property.items?.$ref;
  if (!ref) return property as ApiPropertyOptions;
  const nested = defaultMetadataStorage.findTypeMetadata(dto, name)?.typeFunction() as Type | undefined;
  if (!nested) throw new Error(`${dto.name}.${name}: a nested DTO needs @Type(() => ${ref.split('/').pop()}) to be documented`);
  describeDto(nested);
  const { $ref: _ref, items: _items, type: _type, ...constraints } = property;
  return { ...(constraints as ApiPropertyOptions), type: () => nested, isArray: Boolean(property.items) } as ApiPropertyOptions;
}
