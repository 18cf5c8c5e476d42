package com.shufflenetmobile.demo.core;

/**
 * Float to integer and back for quantized tensors ({@code real = scale * (q - zeroPoint)}).
 *
 * <p>The rounding rule is the project's Python reference,
 * {@code np.clip(np.floor(x / scale + 0.5) + zero_point, lo, hi)} evaluated in float32 (NumPy 2
 * keeps a float32 array float32 when divided by a Python float). Java float arithmetic is the same
 * IEEE single precision, so both sides produce identical integers, ties included (ties go up).
 */
public final class Quantization {
    private Quantization() {}

    public static int quantize(float x, float scale, int zeroPoint, TensorSpec.DType dtype) {
        float scaled = x / scale + 0.5f;
        // Clamp in double so that huge values cannot overflow the int conversion.
        double q = Math.floor(scaled) + zeroPoint;
        double lo = dtype == TensorSpec.DType.INT8 ? -128 : 0;
        double hi = dtype == TensorSpec.DType.INT8 ? 127 : 255;
        return (int) Math.max(lo, Math.min(hi, q));
    }

    /** Exact in double: an 8-bit difference times a float fits in 53 bits of mantissa. */
    public static double dequantize(int q, float scale, int zeroPoint) {
        return (double) (q - zeroPoint) * scale;
    }

    /** One channel value: {@code (pixel * scale - mean) / std}, in float32 like normalize() in Python. */
    public static float normalize(int pixel, float scale, float mean, float std) {
        return ((float) pixel * scale - mean) / std;
    }
}
