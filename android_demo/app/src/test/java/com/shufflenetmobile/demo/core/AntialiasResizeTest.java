package com.shufflenetmobile.demo.core;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;

import java.util.Arrays;
import org.junit.Test;

public class AntialiasResizeTest {
    private static RgbImage constant(int w, int h, int value) {
        int[] d = new int[w * h * 3];
        Arrays.fill(d, value);
        return new RgbImage(w, h, d);
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
        RgbImage img = new RgbImage(2, 1, new int[] {0, 0, 0, 255, 255, 255});
        RgbImage out = AntialiasResize.resize(img, 1, 1);
        assertArrayEquals(new int[] {128, 128, 128}, out.data);
    }

    @Test
    public void constantImagesStayConstant() {
        int[][] sizes = {{37, 53, 10, 12}, {10, 12, 37, 53}, {5, 300, 32, 32}};
        for (int[] s : sizes) {
            RgbImage out = AntialiasResize.resize(constant(s[0], s[1], 77), s[3], s[2]);
            assertEquals(s[2], out.width);
            assertEquals(s[3], out.height);
            for (int v : out.data) {
                assertEquals(77, v);
            }
        }
    }

    @Test
    public void sameSizeIsIdentity() {
        int[] d = new int[4 * 3 * 3];
        for (int i = 0; i < d.length; i++) {
            d[i] = (i * 37) % 256;
        }
        RgbImage img = new RgbImage(4, 3, d);
        assertArrayEquals(d, AntialiasResize.resize(img, 3, 4).data);
    }
}
