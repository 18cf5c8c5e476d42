package com.shufflenetmobile.demo.core;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;

import java.util.Arrays;
import org.junit.Test;

public class AntialiasResizeTest {
    private static int[] constant(int w, int h, int value) {
        int[] d = new int[w * h];
        Arrays.fill(d, 0xFF000000 | (value << 16) | (value << 8) | value);
        return d;
    }

    /** The whole resize, as one window. */
    private static RgbImage resize(int[] argb, int w, int h, int outH, int outW) {
        return AntialiasResize.resizeWindow(argb, w, h, outH, outW, 0, 0, outH, outW);
    }

    @Test
    public void tapWeightsMatchPython() {
        // _resize_weights(7, 3) in model/preprocessing.py, printed with repr().
        AntialiasResize.Taps t = AntialiasResize.taps(7, 3);
        assertArrayEquals(new int[] {0, 1, 4}, t.starts);
        assertArrayEquals(new double[] {0.3571428571428571, 0.4285714285714286, 0.2142857142857143,
            1.1102230246251565e-16, 0.0, 0.0, 0.0}, t.weights[0], 0.0);
        assertArrayEquals(new double[] {0.05882352941176473, 0.23529411764705882, 0.411764705882353,
            0.23529411764705882, 0.05882352941176473, 0.0, 0.0}, t.weights[1], 0.0);
        assertArrayEquals(new double[] {0.21428571428571422, 0.4285714285714285, 0.3571428571428574,
            0.0, 0.0, 0.0, 0.0}, t.weights[2], 0.0);
    }

    @Test
    public void pairwiseSumIsNumpys() {
        // np.sum differs from a left-to-right loop from 8 elements on; these are NumPy's results.
        double[] a = new double[16];
        Arrays.fill(a, 1.0);
        a[0] = 1e16;
        assertEquals(1.0000000000000014e16, AntialiasResize.pairwiseSum(a, 0, a.length), 0.0);
        double[] tenths = new double[9];
        Arrays.fill(tenths, 0.1);
        assertEquals(0.9, AntialiasResize.pairwiseSum(tenths, 0, tenths.length), 0.0);
    }

    @Test
    public void roundsHalfUp() {
        // [0, 255] averaged to one pixel is 127.5, which the reference rounds to 128.
        RgbImage out = resize(new int[] {0xFF000000, 0xFFFFFFFF}, 2, 1, 1, 1);
        assertArrayEquals(new int[] {128, 128, 128}, out.data);
    }

    @Test
    public void constantImagesStayConstant() {
        int[][] sizes = {{37, 53, 10, 12}, {10, 12, 37, 53}, {5, 300, 32, 32}};
        for (int[] s : sizes) {
            RgbImage out = resize(constant(s[0], s[1], 77), s[0], s[1], s[3], s[2]);
            assertEquals(s[2], out.width);
            assertEquals(s[3], out.height);
            for (int v : out.data) {
                assertEquals(77, v);
            }
        }
    }

    @Test
    public void sameSizeIsIdentity() {
        int[] argb = new int[4 * 3];
        int[] rgb = new int[4 * 3 * 3];
        for (int i = 0; i < rgb.length; i++) {
            rgb[i] = (i * 37) % 256;
        }
        for (int p = 0; p < argb.length; p++) {
            argb[p] = (0x80 << 24) | (rgb[3 * p] << 16) | (rgb[3 * p + 1] << 8) | rgb[3 * p + 2];
        }
        assertArrayEquals(rgb, resize(argb, 4, 3, 3, 4).data);
    }

    @Test
    public void aWindowEqualsTheSameWindowOfTheFullResize() {
        int w = 53;
        int h = 37;
        int[] argb = new int[w * h];
        for (int i = 0; i < argb.length; i++) {
            argb[i] = 0xFF000000 | (int) ((i * 2654435761L) & 0xFFFFFF); // pseudo-random colours
        }
        for (int[] out : new int[][] {{10, 12}, {70, 90}, {37, 20}}) {
            RgbImage full = resize(argb, w, h, out[0], out[1]);
            int top = out[0] / 3;
            int left = out[1] / 4;
            int wh = out[0] - top - 1;
            int ww = out[1] - left - 2;
            RgbImage win = AntialiasResize.resizeWindow(argb, w, h, out[0], out[1], top, left, wh, ww);
            for (int y = 0; y < wh; y++) {
                for (int x = 0; x < ww; x++) {
                    for (int c = 0; c < 3; c++) {
                        assertEquals(full.get(top + y, left + x, c), win.get(y, x, c));
                    }
                }
            }
        }
    }

    @Test(expected = IllegalArgumentException.class)
    public void aWindowOutsideTheResultIsRefused() {
        AntialiasResize.resizeWindow(new int[4], 2, 2, 3, 3, 1, 1, 3, 1);
    }
}
