package com.shufflenetmobile.demo.core;

/**
 * Port of {@code resize_uint8} in model/preprocessing.py, bit for bit.
 *
 * <p>A separable triangle filter whose support widens when downscaling (PIL's antialiased bilinear).
 * Everything that decides the result is kept as in Python: double arithmetic, the operation order in
 * the tap weights, NumPy's pairwise summation for the weight total, tap-major accumulation starting
 * from 0.0, rows before columns, and {@code floor(x + 0.5)} clipped to 0..255 after each pass.
 * Only the output window that the centre crop keeps is computed (see {@link #resizeWindow}).
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
        return taps(inSize, outSize, 0, outSize);
    }

    /** The taps of output pixels [from, from + count) only (each is computed on its own). */
    static Taps taps(int inSize, int outSize, int from, int count) {
        double scale = (double) inSize / outSize;
        double support = Math.max(scale, 1.0);
        int taps = (int) Math.ceil(support) * 2 + 1;
        int[] starts = new int[count];
        double[][] weights = new double[count][taps];
        for (int n = 0; n < count; n++) {
            int i = from + n;
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
            starts[n] = lo;
            for (int j = 0; j < w.length; j++) {
                weights[n][j] = total > 0 ? w[j] / total : 0.0;
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

    /**
     * Resizes packed ARGB pixels ({@code Bitmap.getPixels}, alpha ignored) to {@code outH x outW}, rows
     * first, then columns, each pass rounded half-up, and returns only the window
     * {@code [top, top + winH) x [left, left + winW)} of the result.
     *
     * <p>Every output value is computed on its own, in the same order as the Python code, so the
     * window equals the same window of the full resize bit for bit. Memory: one {@code winH x width x 3}
     * byte buffer for the row pass and the {@code winH x winW x 3} result, never a full-size copy.
     */
    public static RgbImage resizeWindow(int[] argb, int width, int height, int outH, int outW,
                                        int top, int left, int winH, int winW) {
        if (argb.length < (long) width * height) {
            throw new IllegalArgumentException("pixel array too short for " + width + "x" + height);
        }
        if (top < 0 || left < 0 || winH < 1 || winW < 1 || top + winH > outH || left + winW > outW) {
            throw new IllegalArgumentException("window " + winH + "x" + winW + " at (" + top + ", " + left
                    + ") is outside " + outH + "x" + outW);
        }
        byte[] rows = rowPass(argb, width, height, outH, top, winH);
        return columnPass(rows, width, outW, left, winH, winW);
    }

    /** Length of the row-pass buffer {@link #resizeWindow} allocates (bytes): window rows x source width x 3. */
    public static long rowBufferBytes(int width, int winH) {
        return (long) winH * width * 3;
    }

    private static int channel(int pixel, int c) {
        return (pixel >> (16 - 8 * c)) & 0xFF;
    }

    /** Vertical pass for output rows [top, top + winH): winH x width x 3, rounded to bytes. */
    private static byte[] rowPass(int[] argb, int width, int height, int outH, int top, int winH) {
        int rowLen = width * 3;
        byte[] out = new byte[winH * rowLen];
        if (height == outH) {
            // Python skips an axis whose size does not change: the values are the source bytes.
            for (int y = 0; y < winH; y++) {
                int src = (top + y) * width;
                for (int x = 0; x < width; x++) {
                    int p = argb[src + x];
                    for (int c = 0; c < 3; c++) {
                        out[y * rowLen + x * 3 + c] = (byte) channel(p, c);
                    }
                }
            }
            return out;
        }
        Taps t = taps(height, outH, top, winH);
        for (int y = 0; y < winH; y++) {
            double[] wi = t.weights[y];
            int start = t.starts[y];
            for (int x = 0; x < width; x++) {
                for (int c = 0; c < 3; c++) {
                    // Tap-major order from 0.0, as `out += w * padded[starts + k]` in Python; rows past
                    // the end are its zero padding.
                    double acc = 0.0;
                    for (int k = 0; k < wi.length; k++) {
                        int srcRow = start + k;
                        double v = srcRow < height ? channel(argb[srcRow * width + x], c) : 0.0;
                        acc += wi[k] * v;
                    }
                    out[y * rowLen + x * 3 + c] = (byte) roundToByte(acc);
                }
            }
        }
        return out;
    }

    /** Horizontal pass for output columns [left, left + winW) of the row-pass result. */
    private static RgbImage columnPass(byte[] rows, int width, int outW, int left, int winH, int winW) {
        int[] out = new int[winH * winW * 3];
        if (width == outW) {
            for (int y = 0; y < winH; y++) {
                for (int i = 0; i < winW * 3; i++) {
                    out[y * winW * 3 + i] = rows[(y * width + left) * 3 + i] & 0xFF;
                }
            }
            return new RgbImage(winW, winH, out);
        }
        Taps t = taps(width, outW, left, winW);
        for (int y = 0; y < winH; y++) {
            for (int i = 0; i < winW; i++) {
                double[] wi = t.weights[i];
                int start = t.starts[i];
                int o = (y * winW + i) * 3;
                for (int c = 0; c < 3; c++) {
                    double acc = 0.0;
                    for (int k = 0; k < wi.length; k++) {
                        int srcCol = start + k;
                        double v = srcCol < width ? rows[(y * width + srcCol) * 3 + c] & 0xFF : 0.0;
                        acc += wi[k] * v;
                    }
                    out[o + c] = roundToByte(acc);
                }
            }
        }
        return new RgbImage(winW, winH, out);
    }

    private static int roundToByte(double x) {
        return (int) Math.min(255.0, Math.max(0.0, Math.floor(x + 0.5)));
    }
}
