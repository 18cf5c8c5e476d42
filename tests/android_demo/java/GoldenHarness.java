import com.shufflenetmobile.demo.core.Classification;
import com.shufflenetmobile.demo.core.DecodeSize;
import com.shufflenetmobile.demo.core.ExifOrientation;
import com.shufflenetmobile.demo.core.Fp16Arithmetic;
import com.shufflenetmobile.demo.core.ImagePreprocessor;
import com.shufflenetmobile.demo.core.Labels;
import com.shufflenetmobile.demo.core.OutputDecoder;
import com.shufflenetmobile.demo.core.Prediction;
import com.shufflenetmobile.demo.core.PreprocessingSpec;
import com.shufflenetmobile.demo.core.RgbImage;
import com.shufflenetmobile.demo.core.TensorSpec;

import java.awt.image.BufferedImage;
import java.awt.image.IndexColorModel;
import java.awt.image.Raster;
import java.io.File;
import java.io.FileInputStream;
import java.io.FileOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.util.List;
import javax.imageio.ImageIO;

/**
 * Desktop driver of the app's plain-Java classes for the cross-language golden test (test harness
 * only: javax.imageio stands in for Android's BitmapFactory and hands the same ARGB int[] over).
 *
 * <pre>
 * preprocess  PREP_JSON DTYPE SCALE ZERO_POINT SHAPE OUT_DIR IMAGE.png...
 *     decodes each image at the app's reduced size (DecodeSize, emulating BitmapFactory's inSampleSize
 *     for lossless formats), writes OUT_DIR/NAME.crop.bin (uint8 H x W x 3), OUT_DIR/NAME.input.bin
 *     (the input buffer), and prints "NAME SAMPLE_SIZE" per image
 * preprocess-full  (same arguments)
 *     the same without the reduced decode (full-size pixels: wide resize filters, up to 16x downscales)
 * postprocess LABELS DTYPE SCALE ZERO_POINT SHAPE K RAW.bin...
 *     prints per file one line "index:probability ..." (top-K, probabilities in Java's exact repr)
 * samplesize  MIN_SHORT_SIDE WxH...
 *     prints DecodeSize.sampleSize per size, one a line
 * orientation IMAGE...
 *     prints the EXIF orientation ExifOrientation reads, one a line
 * upright     OUT_DIR IMAGE...
 *     writes OUT_DIR/NAME.upright.bin (uint8 H x W x 3 after ExifOrientation.apply) and prints "NAME W H"
 * metadata    MODEL.tflite...
 *     prints each model's reduced_precision_support metadata as Fp16Arithmetic reads it ("-": none), one a line
 * </pre>
 * SHAPE is comma-separated, e.g. 1,32,32,3. Buffers are little-endian (as on x86 and ARM).
 */
public final class GoldenHarness {
    public static void main(String[] args) throws IOException {
        if (args.length > 0 && (args[0].equals("preprocess") || args[0].equals("preprocess-full"))) {
            preprocess(args, args[0].equals("preprocess"));
        } else if (args.length > 0 && args[0].equals("postprocess")) {
            postprocess(args);
        } else if (args.length > 0 && args[0].equals("samplesize")) {
            int min = Integer.parseInt(args[1]);
            for (int i = 2; i < args.length; i++) {
                String[] wh = args[i].split("x");
                System.out.println(DecodeSize.sampleSize(Integer.parseInt(wh[0]), Integer.parseInt(wh[1]), min));
            }
        } else if (args.length > 0 && args[0].equals("orientation")) {
            for (int i = 1; i < args.length; i++) {
                System.out.println(readOrientation(new File(args[i])));
            }
        } else if (args.length > 0 && args[0].equals("upright")) {
            upright(args);
        } else if (args.length > 0 && args[0].equals("metadata")) {
            for (int i = 1; i < args.length; i++) {
                byte[] model = Files.readAllBytes(new File(args[i]).toPath());
                String value = Fp16Arithmetic.metadata(ByteBuffer.wrap(model));
                System.out.println(value == null ? "-" : value);
            }
        } else {
            System.err.println(
                    "usage: GoldenHarness preprocess|postprocess|samplesize|orientation|upright|metadata ...");
            System.exit(2);
        }
    }

    private static TensorSpec tensor(String dtype, String scale, String zeroPoint, String shape) {
        String[] parts = shape.split(",");
        int[] dims = new int[parts.length];
        for (int i = 0; i < parts.length; i++) {
            dims[i] = Integer.parseInt(parts[i].trim());
        }
        return new TensorSpec(dims, TensorSpec.dtypeOf(dtype), Float.parseFloat(scale), Integer.parseInt(zeroPoint));
    }

    private static int readOrientation(File f) throws IOException {
        FileInputStream in = new FileInputStream(f);
        try {
            return ExifOrientation.read(in);
        } finally {
            in.close();
        }
    }

    private static void upright(String[] a) throws IOException {
        File outDir = new File(a[1]);
        for (int i = 2; i < a.length; i++) {
            File image = new File(a[i]);
            int[] size = new int[2];
            int[] argb = decodeArgb(image, size);
            int orientation = readOrientation(image);
            int[] up = ExifOrientation.apply(argb, size[0], size[1], orientation);
            boolean swap = ExifOrientation.swapsSides(orientation);
            int w = swap ? size[1] : size[0];
            int h = swap ? size[0] : size[1];
            byte[] rgb = new byte[w * h * 3];
            for (int j = 0; j < w * h; j++) {
                rgb[3 * j] = (byte) (up[j] >> 16);
                rgb[3 * j + 1] = (byte) (up[j] >> 8);
                rgb[3 * j + 2] = (byte) up[j];
            }
            String name = image.getName().replaceFirst("\\.[^.]*$", "");
            write(new File(outDir, name + ".upright.bin"), rgb);
            System.out.println(name + " " + w + " " + h);
        }
    }

    /**
     * What BitmapFactory with {@code inSampleSize = s} returns for a lossless image (the test double of
     * Android's sampled decoder): the pixel at {@code s / 2} of every {@code s x s} block.
     */
    static int[] subsample(int[] argb, int[] size, int s) {
        if (s == 1) {
            return argb;
        }
        int w = size[0];
        int h = size[1];
        int ow = DecodeSize.sampledSide(w, s);
        int oh = DecodeSize.sampledSide(h, s);
        int[] out = new int[ow * oh];
        for (int y = 0; y < oh; y++) {
            int sy = Math.min(s / 2 + s * y, h - 1);
            for (int x = 0; x < ow; x++) {
                out[y * ow + x] = argb[sy * w + Math.min(s / 2 + s * x, w - 1)];
            }
        }
        size[0] = ow;
        size[1] = oh;
        return out;
    }

    private static void preprocess(String[] a, boolean reduce) throws IOException {
        String json = new String(Files.readAllBytes(new File(a[1]).toPath()), StandardCharsets.UTF_8);
        PreprocessingSpec description = PreprocessingSpec.fromJson(json);
        ImagePreprocessor pre = new ImagePreprocessor(description, tensor(a[2], a[3], a[4], a[5]));
        // The app decodes for the description it ships with (MainActivity.minShortSide).
        int minShortSide = DecodeSize.minShortSide(description);
        File outDir = new File(a[6]);
        for (int i = 7; i < a.length; i++) {
            File image = new File(a[i]);
            int[] size = new int[2];
            int[] full = decodeArgb(image, size);
            int sample = reduce ? DecodeSize.sampleSize(size[0], size[1], minShortSide) : 1;
            int[] argb = subsample(full, size, sample);
            RgbImage crop = pre.crop(argb, size[0], size[1]);
            ByteBuffer input = pre.allocateInput();
            pre.encode(crop, input);
            String name = image.getName().replaceFirst("\\.[^.]*$", "");
            byte[] cropBytes = new byte[crop.data.length];
            for (int j = 0; j < cropBytes.length; j++) {
                cropBytes[j] = (byte) crop.data[j];
            }
            write(new File(outDir, name + ".crop.bin"), cropBytes);
            // Also run the one-call path the app uses, and insist it gives the same bytes.
            ByteBuffer viaProcess = pre.allocateInput();
            pre.process(argb, size[0], size[1], viaProcess);
            if (!viaProcess.equals(input)) {
                throw new IllegalStateException("process() and resizeAndCrop()+encode() disagree for " + image);
            }
            write(new File(outDir, name + ".input.bin"), toLittleEndianBytes(input));
            System.out.println(name + " " + sample);
        }
    }

    private static void postprocess(String[] a) throws IOException {
        String text = new String(Files.readAllBytes(new File(a[1]).toPath()), StandardCharsets.UTF_8);
        List<String> labels = Labels.parse(text);
        TensorSpec output = tensor(a[2], a[3], a[4], a[5]);
        int k = Integer.parseInt(a[6]);
        for (int i = 7; i < a.length; i++) {
            byte[] raw = Files.readAllBytes(new File(a[i]).toPath());
            ByteBuffer buf = ByteBuffer.allocateDirect(raw.length).order(ByteOrder.LITTLE_ENDIAN);
            buf.put(raw);
            buf.rewind();
            double[] probs = Classification.softmax(OutputDecoder.logits(buf, output));
            StringBuilder sb = new StringBuilder();
            for (Prediction p : Classification.topK(probs, labels, k)) {
                sb.append(p.index).append(':').append(Double.toString(p.probability)).append(' ');
            }
            System.out.println(sb.toString().trim());
        }
    }

    /** 8-bit PNG to ARGB ints from the raw samples (no colour management, as PIL's convert("RGB")). */
    static int[] decodeArgb(File file, int[] sizeOut) throws IOException {
        BufferedImage img = ImageIO.read(file);
        if (img == null) {
            throw new IOException("cannot decode " + file);
        }
        int w = img.getWidth();
        int h = img.getHeight();
        sizeOut[0] = w;
        sizeOut[1] = h;
        int[] argb = new int[w * h];
        if (img.getColorModel() instanceof IndexColorModel) {
            img.getRGB(0, 0, w, h, argb, 0, w);
            return argb;
        }
        Raster r = img.getRaster();
        int bands = r.getNumBands();
        if (r.getSampleModel().getSampleSize(0) != 8) {
            throw new IOException("only 8-bit images are supported: " + file);
        }
        int[] px = new int[bands];
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) {
                r.getPixel(x, y, px);
                int red = px[0];
                int green = bands >= 3 ? px[1] : px[0];
                int blue = bands >= 3 ? px[2] : px[0];
                argb[y * w + x] = 0xFF000000 | (red << 16) | (green << 8) | blue;
            }
        }
        return argb;
    }

    private static byte[] toLittleEndianBytes(ByteBuffer b) {
        if (b.order() != ByteOrder.LITTLE_ENDIAN) {
            throw new IllegalStateException("the golden files are little-endian; this JVM is not");
        }
        ByteBuffer src = b.duplicate().order(b.order());
        src.rewind();
        byte[] out = new byte[src.remaining()];
        src.get(out);
        return out;
    }

    private static void write(File f, byte[] data) throws IOException {
        FileOutputStream out = new FileOutputStream(f);
        try {
            out.write(data);
        } finally {
            out.close();
        }
    }
}
