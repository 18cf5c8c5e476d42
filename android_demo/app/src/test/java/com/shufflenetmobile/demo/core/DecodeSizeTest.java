package com.shufflenetmobile.demo.core;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertTrue;

import org.junit.Test;

public class DecodeSizeTest {
    @Test
    public void keepsTheShortSideAtTwiceTheResizeTarget() {
        // ImageNet-style 256 -> 224: a 12 MP photo (4000x3000) is decoded at 1/4, 1000x750, short side >= 512.
        PreprocessingSpec imagenet = PreprocessingSpec.fromJson("{\"resize\": 256, \"crop\": [224, 224]}");
        assertEquals(512, DecodeSize.minShortSide(imagenet));
        assertEquals(4, DecodeSize.sampleSize(4000, 3000, 512));
        assertEquals(4, DecodeSize.sampleSize(3000, 4000, 512));
        // CIFAR-style 32 x 32: 1/32, 125x93.
        assertEquals(32, DecodeSize.sampleSize(4000, 3000, 64));
        // 1023 / 2 = 511 < 512: one step less than 1024 would allow.
        assertEquals(1, DecodeSize.sampleSize(1023, 1023, 512));
        assertEquals(2, DecodeSize.sampleSize(1024, 1024, 512));
    }

    @Test
    public void theShortSideNeverDropsBelowTheTargetForOrdinaryPhotos() {
        for (int w = 100; w <= 9000; w += 97) {
            for (int h = 100; h <= 9000; h += 389) {
                int s = DecodeSize.sampleSize(w, h, 512);
                int shortSide = Math.min(w / s, h / s);
                // Up to an aspect ratio of 1.9 the pixel cap (2 MP) never bites before the short-side rule.
                if (10 * Math.max(w, h) <= 19 * Math.min(w, h)) {
                    assertTrue(w + "x" + h + " -> " + s, shortSide >= Math.min(512, Math.min(w, h)));
                }
                assertTrue(w + "x" + h + " -> " + s, shortSide < 2 * 512 || s == 1);
                assertTrue((long) (w / s) * (h / s) <= DecodeSize.MAX_PIXELS);
            }
        }
    }

    @Test
    public void panoramasAreCappedInPixels() {
        // 30000 x 1500 would keep 15000 x 750 (11 MP) by the short-side rule alone; 1/8 gives 3750 x 187.
        int s = DecodeSize.sampleSize(30000, 1500, 512);
        assertEquals(8, s);
        assertTrue((long) (30000 / s) * (1500 / s) <= DecodeSize.MAX_PIXELS);
    }

    @Test
    public void smallImagesAreDecodedAsTheyAre() {
        assertEquals(1, DecodeSize.sampleSize(1, 1, 64));
        assertEquals(1, DecodeSize.sampleSize(451, 300, 512));
        assertEquals(1, DecodeSize.sampledSide(1, 1));
        assertEquals(1, DecodeSize.sampledSide(3, 8));
        assertEquals(112, DecodeSize.sampledSide(451, 4));
    }

    @Test(expected = IllegalArgumentException.class)
    public void zeroSizesAreRefused() {
        DecodeSize.sampleSize(0, 10, 64);
    }
}
