export * from './config.js';
export * from './trainer.js';
