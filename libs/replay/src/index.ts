export * from './progress';
export * from './head';
export * from './history';
export * from './redirected-store';
export * from './rebuild';
export * from './environment';
