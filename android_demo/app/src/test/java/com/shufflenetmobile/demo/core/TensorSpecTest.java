package com.shufflenetmobile.demo.core;

import static org.junit.Assert.assertEquals;

import org.junit.Test;

public class TensorSpecTest {
    @Test
    public void layoutComesFromTheChannelPosition() {
        TensorSpec nhwc = new TensorSpec(new int[] {1, 32, 40, 3}, TensorSpec.DType.FLOAT32, 0f, 0);
        assertEquals(TensorSpec.Layout.NHWC, nhwc.imageLayout());
        assertEquals(32, nhwc.imageHeight());
        assertEquals(40, nhwc.imageWidth());
        TensorSpec nchw = new TensorSpec(new int[] {1, 3, 224, 200}, TensorSpec.DType.INT8, 0.5f, -1);
        assertEquals(TensorSpec.Layout.NCHW, nchw.imageLayout());
        assertEquals(224, nchw.imageHeight());
        assertEquals(200, nchw.imageWidth());
        assertEquals(3 * 224 * 200, nchw.numBytes());
        assertEquals(4 * 32 * 40 * 3, nhwc.numBytes());
    }

    @Test(expected = IllegalArgumentException.class)
    public void rejectsNonImageInputs() {
        new TensorSpec(new int[] {1, 32, 32, 4}, TensorSpec.DType.FLOAT32, 0f, 0).imageLayout();
    }

    @Test(expected = IllegalArgumentException.class)
    public void quantizedTensorsNeedAScale() {
        new TensorSpec(new int[] {1, 10}, TensorSpec.DType.INT8, 0f, 0);
    }

    @Test
    public void mapsLiteRtTypeNames() {
        assertEquals(TensorSpec.DType.INT8, TensorSpec.dtypeOf("INT8"));
        assertEquals(TensorSpec.DType.UINT8, TensorSpec.dtypeOf("UINT8"));
        assertEquals(TensorSpec.DType.FLOAT32, TensorSpec.dtypeOf("FLOAT32"));
    }

    @Test(expected = IllegalArgumentException.class)
    public void rejectsUnsupportedTypes() {
        TensorSpec.dtypeOf("INT16");
    }
}
