package com.shufflenetmobile.demo;

import android.content.ContentResolver;
import android.content.res.AssetManager;
import android.graphics.Bitmap;
import android.graphics.BitmapFactory;
import android.graphics.Matrix;
import android.net.Uri;

import com.shufflenetmobile.demo.core.DecodeSize;
import com.shufflenetmobile.demo.core.ExifOrientation;

import java.io.IOException;
import java.io.InputStream;

/**
 * Decodes a photo twice, for two different jobs, so neither compromises the other:
 * <ul>
 *   <li>model input: reduced by the shared {@link DecodeSize} rule (same as Python's
 *       {@code decode_sample_size}), non-premultiplied so translucent pixels keep their exact colour
 *       values, read once with {@code getPixels} and recycled at once: never drawn (Android's canvas
 *       refuses non-premultiplied bitmaps with alpha);</li>
 *   <li>preview: the decoder's default premultiplied bitmap, reduced to about screen size.</li>
 * </ul>
 * Both are turned upright with the EXIF orientation read by {@link ExifOrientation}.
 */
final class BitmapLoader {
    /** The preview keeps a short side of at least this many pixels (a 220 dp view on a dense screen). */
    static final int PREVIEW_MIN_SHORT_SIDE = 512;

    /** Something that can be opened more than once (the decoders consume the stream). */
    interface Source {
        InputStream open() throws IOException;

        String name();
    }

    private BitmapLoader() {}

    static Source asset(final AssetManager assets, final String path) {
        return new Source() {
            @Override
            public InputStream open() throws IOException {
                return assets.open(path);
            }

            @Override
            public String name() {
                return path.substring(path.lastIndexOf('/') + 1);
            }
        };
    }

    static Source uri(final ContentResolver resolver, final Uri uri) {
        return new Source() {
            @Override
            public InputStream open() throws IOException {
                InputStream in = resolver.openInputStream(uri);
                if (in == null) {
                    throw new IOException("cannot open " + uri);
                }
                return in;
            }

            @Override
            public String name() {
                String last = uri.getLastPathSegment();
                return last != null ? last : uri.toString();
            }
        };
    }

    /** Decodes {@code source} for a model whose preprocessing wants {@code minShortSide} pixels or more. */
    static LoadedImage load(Source source, int minShortSide) throws IOException {
        BitmapFactory.Options bounds = new BitmapFactory.Options();
        bounds.inJustDecodeBounds = true;
        InputStream in = source.open();
        try {
            BitmapFactory.decodeStream(in, null, bounds);
        } finally {
            in.close();
        }
        if (bounds.outWidth <= 0 || bounds.outHeight <= 0) {
            throw new IOException("cannot decode image " + source.name() + " (not an image this phone can read)");
        }
        int orientation;
        in = source.open();
        try {
            orientation = ExifOrientation.read(in);
        } finally {
            in.close();
        }

        int sample = DecodeSize.sampleSize(bounds.outWidth, bounds.outHeight, minShortSide);
        Bitmap forModel = decode(source, sample, false);
        int w = forModel.getWidth();
        int h = forModel.getHeight();
        int[] argb = new int[w * h];
        forModel.getPixels(argb, 0, w, 0, 0, w, h);
        forModel.recycle();
        argb = ExifOrientation.apply(argb, w, h, orientation);
        if (ExifOrientation.swapsSides(orientation)) {
            int t = w;
            w = h;
            h = t;
        }

        int previewSample = DecodeSize.sampleSize(bounds.outWidth, bounds.outHeight, PREVIEW_MIN_SHORT_SIDE);
        Bitmap preview = upright(decode(source, previewSample, true), orientation);
        return new LoadedImage(source.name(), preview, argb, w, h, bounds.outWidth, bounds.outHeight, sample,
                orientation);
    }

    private static Bitmap decode(Source source, int sample, boolean premultiplied) throws IOException {
        BitmapFactory.Options o = new BitmapFactory.Options();
        o.inPreferredConfig = Bitmap.Config.ARGB_8888;
        // Model input: exact colour values for translucent pixels (the reference ignores alpha).
        // Preview: premultiplied, the only form a Canvas draws.
        o.inPremultiplied = premultiplied;
        o.inScaled = false;
        o.inSampleSize = sample;
        InputStream in = source.open();
        try {
            Bitmap b = BitmapFactory.decodeStream(in, null, o);
            if (b == null) {
                throw new IOException("cannot decode image " + source.name());
            }
            return b;
        } finally {
            in.close();
        }
    }

    /** The same rotation and mirroring as {@link ExifOrientation#apply}, as a Matrix for a bitmap. */
    private static Bitmap upright(Bitmap bitmap, int orientation) {
        int degrees = ExifOrientation.rotationDegrees(orientation);
        boolean mirror = ExifOrientation.mirrorsAfterRotation(orientation);
        if (degrees == 0 && !mirror) {
            return bitmap;
        }
        Matrix m = new Matrix();
        m.setRotate(degrees);
        if (mirror) {
            m.postScale(-1, 1);
        }
        Bitmap rotated = Bitmap.createBitmap(bitmap, 0, 0, bitmap.getWidth(), bitmap.getHeight(), m, true);
        if (rotated != bitmap) {
            bitmap.recycle();
        }
        return rotated;
    }
}
