package com.shufflenetmobile.demo.core;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;

import org.junit.Test;

public class ResizeAndCropTest {
    @Test
    public void resizedSizeFollowsTheOfficialRule() {
        assertArrayEquals(new int[] {256, 384}, ResizeAndCrop.resizedSize(300, 450, 256));
        assertArrayEquals(new int[] {384, 256}, ResizeAndCrop.resizedSize(450, 300, 256));
        // 32 * 451 / 300 = 48.1 -> 48; 256 * 601 / 400 = 384.64 -> 385.
        assertArrayEquals(new int[] {32, 48}, ResizeAndCrop.resizedSize(300, 451, 32));
        assertArrayEquals(new int[] {256, 385}, ResizeAndCrop.resizedSize(400, 601, 256));
    }

    @Test
    public void cropsTheCentre() {
        // 10 x 20 image whose red channel is the column index; short side already equals resize.
        int w = 20;
        int h = 10;
        int[] d = new int[w * h];
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) {
                d[y * w + x] = 0xFF000000 | (x << 16) | (y << 8);
            }
        }
        PreprocessingSpec spec = PreprocessingSpec.fromJson("{\"resize\": 10, \"crop\": [10, 10]}");
        RgbImage crop = ResizeAndCrop.apply(d, w, h, spec);
        assertEquals(10, crop.width);
        assertEquals(10, crop.height);
        assertEquals(5, crop.get(0, 0, 0)); // left = (20 - 10) / 2
        assertEquals(14, crop.get(9, 9, 0));
        assertEquals(9, crop.get(9, 9, 1));
    }

    @Test
    public void nonSquareCropStillFits() {
        // A wide crop from a square image needs more than the short-side target.
        PreprocessingSpec spec = PreprocessingSpec.fromJson("{\"resize\": 8, \"crop\": [4, 8]}");
        RgbImage crop = ResizeAndCrop.apply(new int[16 * 16], 16, 16, spec);
        assertEquals(8, crop.width);
        assertEquals(4, crop.height);
    }
}
