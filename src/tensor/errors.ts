/**
 * Typed errors. Every public op validates its inputs and throws one of these, with a message
 * that names the op and the offending shapes, dtypes or devices, so a user can act on it.
 * They live in the lowest layer because every layer above throws them.
 */

export class StablerlError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** Shapes that cannot be combined, broadcast, reshaped or indexed as asked. */
export class ShapeError extends StablerlError {}
/** A dtype the op does not accept, or two dtypes mixed in one op (no silent promotion). */
export class DTypeError extends StablerlError {}
/** Tensors on different devices in one op, an unavailable device, or a disposed tensor. */
export class DeviceError extends StablerlError {}
/** An index out of range (gather, scatterAdd, embedding, slice). */
export class IndexError extends StablerlError {}
/** An argument value outside what the op accepts (k larger than the dim, min > max, ...). */
export class ValueError extends StablerlError {}
/** A routing trace that does not match the batch it is replayed on. */
export class ReplayMismatchError extends StablerlError {}
/** A configuration field with a wrong type or value. */
export class ConfigError extends StablerlError {}
/** A misuse of autograd: backward on something that cannot be differentiated as asked. */
export class AutogradError extends StablerlError {}
