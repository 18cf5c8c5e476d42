package com.shufflenetmobile.demo.core;

import static org.junit.Assert.assertEquals;

import org.junit.Test;

public class QuantizationTest {
    private static final TensorSpec.DType I8 = TensorSpec.DType.INT8;
    private static final TensorSpec.DType U8 = TensorSpec.DType.UINT8;

    @Test
    public void roundsWithFloorOfXOverScalePlusHalf() {
        // floor(x / scale + 0.5): ties go up, also for negative values (-2.5 -> -2).
        assertEquals(3, Quantization.quantize(2.5f, 1f, 0, I8));
        assertEquals(-2, Quantization.quantize(-2.5f, 1f, 0, I8));
        assertEquals(-3, Quantization.quantize(-2.6f, 1f, 0, I8));
        assertEquals(7, Quantization.quantize(0.25f, 0.0625f, 3, I8)); // 4 + 3
    }

    @Test
    public void clampsToTheTypeRange() {
        assertEquals(127, Quantization.quantize(1e30f, 0.01f, 0, I8));
        assertEquals(-128, Quantization.quantize(-1e30f, 0.01f, 0, I8));
        assertEquals(255, Quantization.quantize(1000f, 1f, 0, U8));
        assertEquals(0, Quantization.quantize(-5f, 1f, 0, U8));
        assertEquals(127, Quantization.quantize(0f, 1f, 200, I8));
    }

    @Test
    public void dequantizeIsExact() {
        assertEquals(-131 * (double) 0.1f, Quantization.dequantize(-128, 0.1f, 3), 0.0);
        assertEquals(0.0, Quantization.dequantize(5, 0.25f, 5), 0.0);
    }

    @Test
    public void normalizeIsFloat32() {
        float scale = (float) (1.0 / 255.0);
        float expected = ((float) 200 * scale - 0.4914f) / 0.247f;
        assertEquals(expected, Quantization.normalize(200, scale, 0.4914f, 0.247f), 0.0f);
    }
}
