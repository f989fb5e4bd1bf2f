export * from './config.js';
export * from './trainer.js';
export * from './checkpoint.js';
