export * from './projection';
export * from './apply-once';
export * from './connections.projection';
export * from './tenants.projection';
export * from './projector';
export * from './tenant-activity.projection';
export * from './stream-checkpoints';
