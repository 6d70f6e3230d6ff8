//! Tensor comparisons shared by the detector's integration tests.

use candle_core::Tensor;

/// Largest absolute value of a tensor.
pub fn max_abs(tensor: &Tensor) -> f32 {
    let abs = tensor.abs().unwrap().flatten_all().unwrap();
    abs.max(0).unwrap().to_scalar::<f32>().unwrap()
}

/// Largest absolute element-wise difference of two tensors of the same shape.
pub fn max_abs_difference(a: &Tensor, b: &Tensor) -> f32 {
    assert_eq!(a.dims(), b.dims());
    max_abs(&(a - b).unwrap())
}
