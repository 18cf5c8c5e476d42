package com.shufflenetmobile.demo.core;

/**
 * Port of {@code resize_uint8} in model/preprocessing.py, bit for bit.
 *
 * <p>A separable triangle filter whose support widens when downscaling (PIL's antialiased bilinear).
 * Everything that decides the result is kept as in Python: double arithmetic, the operation order in
 * the tap weights, NumPy's pairwise summation for the weight total, tap-major accumulation starting
 * from 0.0, rows before columns, and {@code floor(x + 0.5)} clipped to 0..255 after each pass.
 */
public final class AntialiasResize {
    private AntialiasResize() {}

    /** Per output pixel: first source index and the normalised taps (padded with zeros to equal length). */
    static final class Taps {
        final int[] starts;
        final double[][] weights;

        Taps(int[] starts, double[][] weights) {
            this.starts = starts;
            this.weights = weights;
        }
    }

    static Taps taps(int inSize, int outSize) {
        double scale = (double) inSize / outSize;
        double support = Math.max(scale, 1.0);
        int taps = (int) Math.ceil(support) * 2 + 1;
        int[] starts = new int[outSize];
        double[][] weights = new double[outSize][taps];
        for (int i = 0; i < outSize; i++) {
            double centre = (i + 0.5) * scale;
            // (int) truncates toward zero like Python's int().
            int lo = Math.max((int) (centre - support + 0.5), 0);
            int hi = Math.min((int) (centre + support + 0.5), inSize);
            double[] w = new double[Math.max(hi - lo, 0)];
            for (int j = 0; j < w.length; j++) {
                double x = lo + j;
                w[j] = Math.max(0.0, 1.0 - Math.abs((x - centre + 0.5) / support));
            }
            double total = 0.0 + pairwiseSum(w, 0, w.length);
            starts[i] = lo;
            for (int j = 0; j < w.length; j++) {
                weights[i][j] = total > 0 ? w[j] / total : 0.0;
            }
        }
        return new Taps(starts, weights);
    }

    /** NumPy's pairwise summation (numpy/_core/src/umath/loops_utils.h), which {@code ndarray.sum} uses. */
    static double pairwiseSum(double[] a, int from, int n) {
        if (n < 8) {
            double res = 0.0;
            for (int i = 0; i < n; i++) {
                res += a[from + i];
            }
            return res;
        } else if (n <= 128) {
            double[] r = new double[8];
            for (int j = 0; j < 8; j++) {
                r[j] = a[from + j];
            }
            int i;
            for (i = 8; i < n - (n % 8); i += 8) {
                for (int j = 0; j < 8; j++) {
                    r[j] += a[from + i + j];
                }
            }
            double res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
            for (; i < n; i++) {
                res += a[from + i];
            }
            return res;
        } else {
            int n2 = n / 2;
            n2 -= n2 % 8;
            return pairwiseSum(a, from, n2) + pairwiseSum(a, from + n2, n - n2);
        }
    }

    /** Resizes to {@code height x width}: rows first, then columns, each pass rounded half-up. */
    public static RgbImage resize(RgbImage img, int height, int width) {
        double[] x = new double[img.data.length];
        for (int i = 0; i < x.length; i++) {
            x[i] = img.data[i];
        }
        int h = img.height;
        int w = img.width;
        if (h != height) {
            x = roundToByte(resizeRows(x, h, w, height));
            h = height;
        }
        if (w != width) {
            x = roundToByte(resizeColumns(x, h, w, width));
            w = width;
        }
        int[] out = new int[x.length];
        for (int i = 0; i < x.length; i++) {
            out[i] = (int) x[i];
        }
        return new RgbImage(w, h, out);
    }

    /** Vertical pass: H x W x 3 to outH x W x 3. */
    private static double[] resizeRows(double[] src, int h, int w, int outH) {
        Taps t = taps(h, outH);
        int rowLen = w * 3;
        double[] out = new double[outH * rowLen];
        for (int i = 0; i < outH; i++) {
            double[] wi = t.weights[i];
            int base = i * rowLen;
            for (int k = 0; k < wi.length; k++) {
                int srcRow = t.starts[i] + k;
                double wk = wi[k];
                for (int j = 0; j < rowLen; j++) {
                    // Rows past the end are the zero padding of the Python code.
                    double v = srcRow < h ? src[srcRow * rowLen + j] : 0.0;
                    out[base + j] += wk * v;
                }
            }
        }
        return out;
    }

    /** Horizontal pass: H x W x 3 to H x outW x 3. */
    private static double[] resizeColumns(double[] src, int h, int w, int outW) {
        Taps t = taps(w, outW);
        double[] out = new double[h * outW * 3];
        for (int y = 0; y < h; y++) {
            for (int i = 0; i < outW; i++) {
                double[] wi = t.weights[i];
                int o = (y * outW + i) * 3;
                for (int k = 0; k < wi.length; k++) {
                    int srcCol = t.starts[i] + k;
                    double wk = wi[k];
                    for (int c = 0; c < 3; c++) {
                        double v = srcCol < w ? src[(y * w + srcCol) * 3 + c] : 0.0;
                        out[o + c] += wk * v;
                    }
                }
            }
        }
        return out;
    }

    private static double[] roundToByte(double[] x) {
        for (int i = 0; i < x.length; i++) {
            x[i] = Math.min(255.0, Math.max(0.0, Math.floor(x[i] + 0.5)));
        }
        return x;
    }
}
