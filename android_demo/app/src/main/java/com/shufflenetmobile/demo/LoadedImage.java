package com.shufflenetmobile.demo;

import android.graphics.Bitmap;

import com.shufflenetmobile.demo.core.RunReport;

/**
 * A decoded photo: a premultiplied bitmap for the screen and, separately, the upright ARGB pixels of
 * the (reduced) decode for the classifier. The preview is never used as model input, nor the reverse.
 */
final class LoadedImage {
    final String name;
    final Bitmap preview;
    final int[] argb;
    final int width;
    final int height;
    final RunReport.Image info;

    LoadedImage(String name, Bitmap preview, int[] argb, int width, int height, int storedWidth, int storedHeight,
                int sampleSize, int orientation) {
        this.name = name;
        this.preview = preview;
        this.argb = argb;
        this.width = width;
        this.height = height;
        this.info = new RunReport.Image(name, storedWidth, storedHeight, sampleSize, orientation, width, height);
    }
}
