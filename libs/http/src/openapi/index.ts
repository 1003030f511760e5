export * from './dto-schemas';
export * from './http-routes';
export * from './openapi-document';
export * from './serve-openapi';
