package com.shufflenetmobile.demo;

import android.content.ContentResolver;
import android.content.res.AssetManager;
import android.database.Cursor;
import android.graphics.Bitmap;
import android.graphics.BitmapFactory;
import android.graphics.Matrix;
import android.net.Uri;
import android.provider.MediaStore;

import java.io.IOException;
import java.io.InputStream;

/** Decodes images to ARGB_8888 bitmaps whose getPixels() values feed the Java preprocessing. */
final class BitmapLoader {
    /**
     * Phone photos are decoded at a reduced size (power-of-two subsampling by the decoder) above this
     * many pixels, to bound memory; the antialiased resize to the network input follows anyway. The
     * bundled samples are below it and decode at full size, like the Python reference.
     */
    static final int MAX_PIXELS = 4000000;

    private BitmapLoader() {}

    static Bitmap fromAsset(AssetManager assets, String path) throws IOException {
        InputStream in = assets.open(path);
        try {
            return decode(in, 1, path);
        } finally {
            in.close();
        }
    }

    static Bitmap fromUri(ContentResolver resolver, Uri uri) throws IOException {
        BitmapFactory.Options bounds = new BitmapFactory.Options();
        bounds.inJustDecodeBounds = true;
        InputStream in = open(resolver, uri);
        try {
            BitmapFactory.decodeStream(in, null, bounds);
        } finally {
            in.close();
        }
        int sample = 1;
        while ((long) (bounds.outWidth / sample) * (bounds.outHeight / sample) > MAX_PIXELS) {
            sample *= 2;
        }
        Bitmap bitmap;
        in = open(resolver, uri);
        try {
            bitmap = decode(in, sample, uri.toString());
        } finally {
            in.close();
        }
        int degrees = orientation(resolver, uri);
        if (degrees == 0) {
            return bitmap;
        }
        Matrix m = new Matrix();
        m.postRotate(degrees);
        Bitmap rotated = Bitmap.createBitmap(bitmap, 0, 0, bitmap.getWidth(), bitmap.getHeight(), m, true);
        if (rotated != bitmap) {
            bitmap.recycle();
        }
        return rotated;
    }

    /** Packed ARGB, non-premultiplied, as the plain-Java preprocessing expects. */
    static int[] pixels(Bitmap bitmap) {
        int w = bitmap.getWidth();
        int h = bitmap.getHeight();
        int[] argb = new int[w * h];
        bitmap.getPixels(argb, 0, w, 0, 0, w, h);
        return argb;
    }

    private static Bitmap decode(InputStream in, int sample, String what) throws IOException {
        BitmapFactory.Options o = new BitmapFactory.Options();
        o.inPreferredConfig = Bitmap.Config.ARGB_8888;
        // Keep colour values exact for translucent pixels (the reference ignores alpha).
        o.inPremultiplied = false;
        o.inScaled = false;
        o.inSampleSize = sample;
        Bitmap b = BitmapFactory.decodeStream(in, null, o);
        if (b == null) {
            throw new IOException("cannot decode image " + what);
        }
        return b;
    }

    private static InputStream open(ContentResolver resolver, Uri uri) throws IOException {
        InputStream in = resolver.openInputStream(uri);
        if (in == null) {
            throw new IOException("cannot open " + uri);
        }
        return in;
    }

    /**
     * Rotation recorded by the media store (camera photos are often stored sideways). Providers that
     * do not know the column simply yield 0: the image is then classified as stored.
     */
    private static int orientation(ContentResolver resolver, Uri uri) {
        Cursor c = null;
        try {
            c = resolver.query(uri, new String[] {MediaStore.Images.ImageColumns.ORIENTATION}, null, null, null);
            if (c != null && c.moveToFirst() && !c.isNull(0)) {
                return c.getInt(0);
            }
        } catch (RuntimeException ignored) {
            // Not a media-store URI, or the column is unknown to this provider.
        } finally {
            if (c != null) {
                c.close();
            }
        }
        return 0;
    }
}
