package com.shufflenetmobile.demo.core;

import java.util.List;
import java.util.Map;

/**
 * The preprocessing description written by {@code shufflenet-export} ({@code preprocessing.json}).
 *
 * <p>Mirrors {@code Preprocessing} in model/preprocessing.py: resize the short side to
 * {@link #resize}, centre-crop {@link #cropHeight} x {@link #cropWidth}, reorder channels to
 * {@link #colourOrder}, then {@code (pixel * scale - mean[c]) / std[c]} in float32.
 */
public final class PreprocessingSpec {
    public final String arch;
    public final int resize;
    public final int cropHeight;
    public final int cropWidth;
    public final String colourOrder;
    public final double scale;
    public final double[] mean;
    public final double[] std;
    public final String interpolation;

    public PreprocessingSpec(String arch, int resize, int cropHeight, int cropWidth, String colourOrder,
                             double scale, double[] mean, double[] std, String interpolation) {
        if (!"RGB".equals(colourOrder) && !"BGR".equals(colourOrder)) {
            throw new IllegalArgumentException("colour_order must be RGB or BGR, got " + colourOrder);
        }
        if (!"bilinear-antialias".equals(interpolation)) {
            throw new IllegalArgumentException("unsupported interpolation " + interpolation);
        }
        if (Math.min(cropHeight, cropWidth) > resize) {
            throw new IllegalArgumentException(
                    "crop " + cropHeight + "x" + cropWidth + " is larger than the resize target " + resize);
        }
        if (mean.length != 3 || std.length != 3) {
            throw new IllegalArgumentException("mean and std need three values each");
        }
        this.arch = arch;
        this.resize = resize;
        this.cropHeight = cropHeight;
        this.cropWidth = cropWidth;
        this.colourOrder = colourOrder;
        this.scale = scale;
        this.mean = mean.clone();
        this.std = std.clone();
        this.interpolation = interpolation;
    }

    /** Parses preprocessing.json; defaults follow Preprocessing.from_dict in Python. */
    public static PreprocessingSpec fromJson(String text) {
        Map<String, Object> d = Json.parseObject(text);
        if (!d.containsKey("resize") || !d.containsKey("crop")) {
            throw new IllegalArgumentException("preprocessing description needs 'resize' and 'crop'");
        }
        int[] crop = cropOf(d.get("crop"));
        return new PreprocessingSpec(
                d.containsKey("arch") ? String.valueOf(d.get("arch")) : "",
                (int) number(d.get("resize")),
                crop[0],
                crop[1],
                d.containsKey("colour_order") ? String.valueOf(d.get("colour_order")) : "RGB",
                d.containsKey("scale") ? number(d.get("scale")) : 1.0 / 255.0,
                d.containsKey("mean") ? triple(d.get("mean")) : new double[] {0, 0, 0},
                d.containsKey("std") ? triple(d.get("std")) : new double[] {1, 1, 1},
                d.containsKey("interpolation") ? String.valueOf(d.get("interpolation")) : "bilinear-antialias");
    }

    /**
     * The same preprocessing for another network input size, as Preprocessing.with_input_size: the
     * resize target keeps its ratio to the crop. Python's round() rounds half to even, hence rint.
     */
    public PreprocessingSpec withInputSize(int height, int width) {
        double ratio = (double) resize / Math.min(cropHeight, cropWidth);
        int shortSide = Math.min(height, width);
        int newResize = Math.max((int) Math.rint(shortSide * ratio), shortSide);
        return new PreprocessingSpec(arch, newResize, height, width, colourOrder, scale, mean, std, interpolation);
    }

    /** This description if it already produces {@code height x width}, else {@link #withInputSize}. */
    public PreprocessingSpec forInput(int height, int width) {
        return height == cropHeight && width == cropWidth ? this : withInputSize(height, width);
    }

    private static int[] cropOf(Object o) {
        if (o instanceof List) {
            List<?> l = (List<?>) o;
            if (l.size() == 2) {
                return new int[] {(int) number(l.get(0)), (int) number(l.get(1))};
            }
            if (l.size() == 1) {
                int c = (int) number(l.get(0));
                return new int[] {c, c};
            }
            throw new IllegalArgumentException("crop must be [height, width]");
        }
        int c = (int) number(o);
        return new int[] {c, c};
    }

    private static double[] triple(Object o) {
        if (!(o instanceof List) || ((List<?>) o).size() != 3) {
            throw new IllegalArgumentException("expected a list of three numbers, got " + o);
        }
        List<?> l = (List<?>) o;
        return new double[] {number(l.get(0)), number(l.get(1)), number(l.get(2))};
    }

    private static double number(Object o) {
        if (!(o instanceof Double)) {
            throw new IllegalArgumentException("expected a number, got " + o);
        }
        return (Double) o;
    }
}
