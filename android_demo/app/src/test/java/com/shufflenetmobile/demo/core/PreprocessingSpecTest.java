package com.shufflenetmobile.demo.core;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertSame;

import org.junit.Test;

public class PreprocessingSpecTest {
    private static final String CIFAR = "{\"arch\": \"shufflenet_v1_g3_0.5x_cifar\", \"input_size\": [32, 32],"
            + " \"num_classes\": 10, \"resize\": 32, \"crop\": [32, 32], \"colour_order\": \"RGB\","
            + " \"scale\": 0.00392156862745098, \"mean\": [0.4914, 0.4822, 0.4465],"
            + " \"std\": [0.247, 0.2435, 0.2616], \"interpolation\": \"bilinear-antialias\","
            + " \"notes\": \"CIFAR-10 channel statistics\", \"labels_file\": \"labels.txt\"}";

    @Test
    public void parsesTheExportFormat() {
        PreprocessingSpec p = PreprocessingSpec.fromJson(CIFAR);
        assertEquals("shufflenet_v1_g3_0.5x_cifar", p.arch);
        assertEquals(32, p.resize);
        assertEquals(32, p.cropHeight);
        assertEquals(32, p.cropWidth);
        assertEquals("RGB", p.colourOrder);
        assertEquals(1.0 / 255.0, p.scale, 0.0);
        assertArrayEquals(new double[] {0.4914, 0.4822, 0.4465}, p.mean, 0.0);
        assertArrayEquals(new double[] {0.247, 0.2435, 0.2616}, p.std, 0.0);
    }

    @Test
    public void defaultsFollowPython() {
        PreprocessingSpec p = PreprocessingSpec.fromJson("{\"resize\": 256, \"crop\": [224, 200]}");
        assertEquals("RGB", p.colourOrder);
        assertEquals(1.0 / 255.0, p.scale, 0.0);
        assertArrayEquals(new double[] {0, 0, 0}, p.mean, 0.0);
        assertArrayEquals(new double[] {1, 1, 1}, p.std, 0.0);
        assertEquals(224, p.cropHeight);
        assertEquals(200, p.cropWidth);
    }

    @Test(expected = IllegalArgumentException.class)
    public void rejectsUnknownColourOrder() {
        PreprocessingSpec.fromJson("{\"resize\": 32, \"crop\": [32, 32], \"colour_order\": \"RGBA\"}");
    }

    @Test(expected = IllegalArgumentException.class)
    public void rejectsUnknownInterpolation() {
        PreprocessingSpec.fromJson("{\"resize\": 32, \"crop\": [32, 32], \"interpolation\": \"nearest\"}");
    }

    @Test(expected = IllegalArgumentException.class)
    public void rejectsCropLargerThanResize() {
        PreprocessingSpec.fromJson("{\"resize\": 32, \"crop\": [40, 40]}");
    }

    @Test
    public void withInputSizeMatchesPython() {
        // Values from Preprocessing.with_input_size in model/preprocessing.py.
        PreprocessingSpec imagenet = PreprocessingSpec.fromJson("{\"resize\": 256, \"crop\": [224, 224]}");
        PreprocessingSpec p = imagenet.withInputSize(160, 200);
        assertEquals(183, p.resize);
        assertEquals(160, p.cropHeight);
        assertEquals(200, p.cropWidth);
        // Python's round() goes half to even: 4.5 -> 4, 13.5 -> 14.
        PreprocessingSpec small = PreprocessingSpec.fromJson("{\"resize\": 36, \"crop\": [32, 32]}");
        assertEquals(4, small.withInputSize(4, 4).resize);
        assertEquals(14, small.withInputSize(12, 12).resize);
    }

    @Test
    public void forInputKeepsAMatchingDescription() {
        PreprocessingSpec p = PreprocessingSpec.fromJson(CIFAR);
        assertSame(p, p.forInput(32, 32));
        assertEquals(64, p.forInput(64, 64).resize);
    }
}
