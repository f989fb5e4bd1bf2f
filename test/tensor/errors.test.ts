/**
 * Bad input: every typed error class, with the class AND a message that names the op and the
 * offending shapes / dtypes / values, so a user can act on it.
 */
import { describe, expect, it } from 'vitest';
import {
  add, arange, AutogradError, cat, DeviceError, DTypeError, embedding, exp, gather, getDevice, IndexError, matmul, ones,
  randn, scatterAdd, ShapeError, tensor, topk, ValueError, zeros,
} from '../../src/index.js';
import { expectError } from '../helpers/assert.js';

const i32 = (data: number[] | number[][], shape?: number[]) => tensor(data, shape ? { dtype: 'i32', shape } : { dtype: 'i32' });

describe('ShapeError', () => {
  it('add of [2,3] and [4] (not broadcastable)', () => {
    const msg = /^add: .*\[2, 3\].*\[4\].*cannot be broadcast/;
    expectError(() => ones([2, 3]).add(ones([4])), ShapeError, msg, /3 vs 4/);
    expectError(() => add(ones([2, 3]), ones([4])), ShapeError, msg);
  });

  it('matmul [2,3] @ [4,5] (inner dims differ)', () => {
    expectError(() => ones([2, 3]).matmul(ones([4, 5])), ShapeError, /^matmul: /, /\[2, 3\] @ \[4, 5\]/, /3 vs 4/);
    expectError(() => matmul(ones([7, 2, 3]), ones([4])), ShapeError, /^matmul: /, /\[7, 2, 3\]/, /\[4\]/);
  });

  it('matmul with batch dims that do not broadcast', () => {
    expectError(() => ones([2, 3, 4]).matmul(ones([5, 4, 2])), ShapeError, /^matmul: /, /\[2\]/, /\[5\]/);
  });

  it('reshape of 6 elements to [4]', () => {
    expectError(() => ones([2, 3]).reshape([4]), ShapeError, /^reshape: /, /\[2, 3\]/, /6 elements/, /\[4\]/);
    expectError(() => ones([2, 3]).reshape(-1, 4), ShapeError, /^reshape: /, /-1/, /6 elements/);
    expectError(() => ones([6]).reshape(-1, -1), ShapeError, /^reshape: only one dim can be -1/);
  });

  it('cat with mismatched dims (outside the cat dim, and different ranks)', () => {
    expectError(() => cat([ones([2, 3]), ones([2, 4])], 0), ShapeError, /^cat: /, /\[2, 3\], \[2, 4\]/, /dim 0/);
    expectError(() => cat([ones([2, 3]), ones([3])], 1), ShapeError, /^cat: /, /\[2, 3\], \[3\]/);
    expectError(() => cat([ones([2, 3]), ones([2, 3])], 2), ShapeError, /^cat: dim 2 is out of range/, /rank 2/);
  });

  it('ragged nested array in tensor()', () => {
    expectError(() => tensor([[1, 2], [3, 4, 5]]), ShapeError, /^tensor: ragged nested array/, /expected length 2/, /found 3/);
    expectError(() => tensor([[1, 2], 3]), ShapeError, /^tensor: ragged nested array/, /found a scalar/);
    expectError(() => tensor([1, [2, 3]] as never), ShapeError, /^tensor: ragged nested array/, /found an array/);
  });

  it('typed array whose length does not match the given shape', () => {
    expectError(() => tensor(new Float32Array(5), { shape: [2, 3] }), ShapeError, /^tensor: 5 values cannot have shape \[2, 3\]/);
  });

  it('expand of [3] to [4], and to fewer dims', () => {
    expectError(() => ones([3]).expand([4]), ShapeError, /^expand: /, /\[3\]/, /\[4\]/);
    expectError(() => ones([2, 3]).expand([3]), ShapeError, /^expand: /, /\[3\]/, /fewer dims/, /\[2, 3\]/);
    expectError(() => ones([2, 1]).expand([3, 4]), ShapeError, /^expand: /, /\[2, 1\]/, /\[3, 4\]/);
  });

  it('permute with something that is not a permutation; dims out of range', () => {
    expectError(() => ones([2, 3]).permute([0, 0]), ShapeError, /^permute: \[0, 0\] is not a permutation/, /\[2, 3\]/);
    expectError(() => ones([2, 3]).transpose(0, 2), ShapeError, /^transpose: dim 2 is out of range/, /rank 2/);
    expectError(() => ones([2, 3]).sum(5), ShapeError, /^sum: dim 5 is out of range/);
  });

  it('backward with a seed of the wrong shape', () => {
    const x = ones([3], { requiresGrad: true });
    expectError(() => x.mul(2).backward(ones([2])), ShapeError, /^backward: seed has shape \[2\]/, /output has shape \[3\]/);
  });
});

describe('DTypeError', () => {
  it('add f32 + f64: mixing is an error, not a promotion', () => {
    const a = ones([2], { dtype: 'f32' });
    const b = ones([2], { dtype: 'f64' });
    expectError(() => a.add(b), DTypeError, /^add: dtypes differ \(f32 and f64\)/, /\.to\('f32'\)|\.to\('f64'\)/);
    expectError(() => b.mul(a), DTypeError, /^mul: dtypes differ \(f64 and f32\)/);
    expectError(() => cat([a, b]), DTypeError, /^cat: dtypes differ \(f32, f64\)/);
  });

  it('exp on i32', () => {
    const x = i32([1, 2]);
    expectError(() => x.exp(), DTypeError, /^exp: input has dtype i32/, /f32 or f64/);
    expectError(() => exp(x), DTypeError, /^exp: /, /i32/);
    expectError(() => x.softmax(), DTypeError, /^softmax: /, /i32/);
    expectError(() => x.div(2), DTypeError, /^div: /, /i32/);
  });

  it('requiresGrad on i32 creation', () => {
    expectError(() => tensor([1, 2], { dtype: 'i32', requiresGrad: true }), DTypeError, /^tensor: requiresGrad needs a float dtype/, /i32/);
    expectError(() => tensor(new Int32Array(3), { requiresGrad: true }), DTypeError, /^tensor: requiresGrad/, /i32/);
    expectError(() => arange(3, undefined, 1, { dtype: 'i32', requiresGrad: true }), DTypeError, /^arange: requiresGrad/, /i32/);
    expectError(() => i32([1]).setRequiresGrad(), DTypeError, /^setRequiresGrad: i32 tensors cannot require grad/);
    expectError(() => randn([2], { dtype: 'i32' }), DTypeError, /^randn: dtype must be f32 or f64, got i32/);
  });

  it('gather with a float index', () => {
    const x = ones([2, 3]);
    expectError(() => x.gather(1, tensor([[0], [1]])), DTypeError, /^gather: index must be i32, got f32/);
    expectError(() => gather(x, 1, tensor([[0], [1]], { dtype: 'f64' })), DTypeError, /^gather: index must be i32, got f64/);
    expectError(() => scatterAdd(x, 1, tensor([[0], [1]]), ones([2, 1])), DTypeError, /^scatterAdd: index must be i32, got f32/);
  });

  it('matmul on i32', () => {
    expectError(() => i32([[1, 2]]).matmul(i32([[1], [2]])), DTypeError, /^matmul: dtype i32 is not supported/, /f32 or f64/);
    expectError(() => ones([1, 2]).matmul(ones([2, 1], { dtype: 'f64' })), DTypeError, /^matmul: dtypes differ \(f32 and f64\)/);
  });

  it('non-integer data or scalar for an i32 tensor', () => {
    expectError(() => tensor([1.5], { dtype: 'i32' }), DTypeError, /^tensor: value 1\.5 is not an integer/, /i32/);
    expectError(() => i32([1, 2]).add(0.5), DTypeError, /^add: scalar 0\.5 is not an integer/, /i32/);
  });
});

describe('DeviceError', () => {
  it("getDevice('webgpu') before initWebGpu() says what to do", () => {
    expectError(() => getDevice('webgpu'), DeviceError, /^getDevice: device 'webgpu' is not available: /, /await initWebGpu\(\)/);
    expectError(() => tensor([1], { device: 'webgpu' }), DeviceError, /'webgpu' is not available/);
    expectError(() => getDevice('tpu' as never), DeviceError, /^getDevice: unknown device 'tpu'/);
  });

  it('using a disposed tensor in an op', () => {
    const a = ones([2, 3]);
    const b = ones([2, 3]);
    a.dispose();
    expect(a.isDisposed).toBe(true);
    expectError(() => a.add(b), DeviceError, /^add: input \[2, 3\] was disposed/);
    expectError(() => b.add(a), DeviceError, /^add: operand 1 \[2, 3\] was disposed/);
    expectError(() => a.exp(), DeviceError, /^exp: input \[2, 3\] was disposed/);
    expectError(() => b.matmul(a.reshape([3, 2])), DeviceError, /^reshape: input \[2, 3\] was disposed/);
    expectError(() => cat([b, a]), DeviceError, /^cat: tensor 1 \[2, 3\] was disposed/);
    a.dispose(); // idempotent
  });

  it('reading a disposed tensor', async () => {
    const a = tensor([[1, 2]]);
    a.dispose();
    expectError(() => a.toArraySync(), DeviceError, /tensor \[1, 2\] f32 was disposed/, /can no longer be read/);
    expectError(() => a.itemSync(), DeviceError, /was disposed/);
    await expect(a.toArray()).rejects.toThrow(DeviceError);
    await expect(a.toArray()).rejects.toThrow(/tensor \[1, 2\] f32 was disposed/);
    expect(String(a)).toMatch(/disposed/);
  });

  it('item() of a tensor with more than one element', () => {
    expectError(() => ones([2, 2]).itemSync(), DeviceError, /^item: tensor has 4 elements \(shape \[2, 2\]\)/);
  });
});

describe('IndexError', () => {
  const x = tensor([[1, 2, 3], [4, 5, 6]]);

  it('gather with an index out of range, and a negative index', () => {
    expectError(() => x.gather(1, i32([[0, 3], [1, 2]])), IndexError, /^gather: index 3 at flat position 1 is out of range/, /size 3/, /0\.\.2/);
    expectError(() => x.gather(0, i32([[0, 1, 2]])), IndexError, /^gather: index 2 /, /dim 0 of size 2/);
    expectError(() => x.gather(1, i32([[0], [-1]])), IndexError, /^gather: index -1 at flat position 1 is out of range/);
  });

  it('scatterAdd with an index out of range, and a negative index', () => {
    const src = ones([2, 1]);
    expectError(() => zeros([2, 3]).scatterAdd(1, i32([[0], [7]]), src), IndexError, /^scatterAdd: index 7 /, /size 3/);
    expectError(() => zeros([2, 3]).scatterAdd(1, i32([[-2], [0]]), src), IndexError, /^scatterAdd: index -2 at flat position 0/);
  });

  it('embedding with an index out of range, and a negative index', () => {
    const w = ones([4, 2]);
    expectError(() => w.embedding(i32([0, 4])), IndexError, /^embedding: index 4 /, /vocabulary/, /size 4/);
    expectError(() => embedding(w, i32([[1], [-1]])), IndexError, /^embedding: index -1 /);
  });

  it('slice with a non-integer bound', () => {
    expectError(() => x.slice(1, 0.5), IndexError, /^slice: start 0\.5/);
  });
});

describe('ValueError', () => {
  it('topk with k larger than the dim', () => {
    const x = ones([2, 3]);
    expectError(() => x.topk(4), ValueError, /^topk: k = 4 /, /0\.\.3/, /dim 1 of \[2, 3\]/);
    expectError(() => topk(x, 3, 0), ValueError, /^topk: k = 3 /, /dim 0 of \[2, 3\]/);
    expectError(() => topk(x, -1), ValueError, /^topk: k = -1 /);
  });

  it('clamp with min > max', () => {
    expectError(() => ones([2]).clamp(2, 1), ValueError, /^clamp: min 2 is greater than max 1/);
    expectError(() => ones([2]).clamp(NaN, 1), ValueError, /^clamp: bounds must not be NaN/);
  });

  it('reducing an empty dim with max', () => {
    expectError(() => zeros([2, 0]).max(1), ValueError, /^max: cannot reduce an empty dim/, /\[2, 0\]/);
  });
});

describe('AutogradError', () => {
  it('backward() on a non-scalar without a seed says to reduce or pass a seed', () => {
    const x = ones([2, 3], { requiresGrad: true });
    const y = x.mul(2);
    expectError(() => y.backward(), AutogradError, /^backward: /, /shape \[2, 3\]/, /needs a scalar/, /\.sum\(\)|\.mean\(\)/, /pass a seed/);
    expect(x.grad).toBeNull();
  });

  it('backward() on a tensor that does not require grad says what to do', () => {
    const x = ones([3]);
    const err = expectError(() => x.mul(2).sum().backward(), AutogradError, /^backward: /, /does not require grad/, /requiresGrad: true/);
    expect(err.message).toMatch(/noGrad|detach/);
    const leaf = ones([2], { requiresGrad: true });
    const detached = leaf.detach().sum();
    expectError(() => detached.backward(), AutogradError, /does not require grad/);
  });

  it('setRequiresGrad on a non-leaf', () => {
    const x = ones([2], { requiresGrad: true });
    expectError(() => x.mul(2).setRequiresGrad(false), AutogradError, /^setRequiresGrad: only leaf tensors/, /detach/);
  });
});

describe('every error class is a distinct, catchable type', () => {
  it('classes do not inherit from one another (a ShapeError is not a DTypeError)', () => {
    let e: unknown;
    try {
      ones([2]).add(ones([3]));
    } catch (err) {
      e = err;
    }
    expect(e).toBeInstanceOf(ShapeError);
    for (const other of [DTypeError, DeviceError, IndexError, ValueError, AutogradError]) expect(e).not.toBeInstanceOf(other);
    expect(e).toBeInstanceOf(Error);
  });
});
