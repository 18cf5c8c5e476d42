import com.shufflenetmobile.demo.core.Classification;
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
 *     writes OUT_DIR/NAME.crop.bin (uint8 H x W x 3) and OUT_DIR/NAME.input.bin (the input buffer)
 * postprocess LABELS DTYPE SCALE ZERO_POINT SHAPE K RAW.bin...
 *     prints per file one line "index:probability ..." (top-K, probabilities in Java's exact repr)
 * </pre>
 * SHAPE is comma-separated, e.g. 1,32,32,3. Buffers are little-endian (as on x86 and ARM).
 */
public final class GoldenHarness {
    public static void main(String[] args) throws IOException {
        if (args.length > 0 && args[0].equals("preprocess")) {
            preprocess(args);
        } else if (args.length > 0 && args[0].equals("postprocess")) {
            postprocess(args);
        } else {
            System.err.println("usage: GoldenHarness preprocess|postprocess ...");
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

    private static void preprocess(String[] a) throws IOException {
        String json = new String(Files.readAllBytes(new File(a[1]).toPath()), StandardCharsets.UTF_8);
        ImagePreprocessor pre = new ImagePreprocessor(PreprocessingSpec.fromJson(json), tensor(a[2], a[3], a[4], a[5]));
        File outDir = new File(a[6]);
        for (int i = 7; i < a.length; i++) {
            File image = new File(a[i]);
            int[] size = new int[2];
            int[] argb = decodeArgb(image, size);
            RgbImage crop = pre.resizeAndCrop(RgbImage.fromArgb(argb, size[0], size[1]));
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
