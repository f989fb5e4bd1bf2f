export * from './config.js';
export * from './trainer.js';
export * from './checkpoint.js';
export * from './cold-start.js';
