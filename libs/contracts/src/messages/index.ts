export * from './common';
export * from './vault.messages';
export * from './vault-keys.messages';
export * from './query.messages';
export * from './refresher.messages';
export * from './subjects';
