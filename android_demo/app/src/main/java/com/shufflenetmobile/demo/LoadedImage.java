package com.shufflenetmobile.demo;

import android.graphics.Bitmap;

/** A decoded image: the bitmap for display and its ARGB pixels for the classifier. */
final class LoadedImage {
    final String name;
    final Bitmap bitmap;
    final int[] argb;
    final int width;
    final int height;

    LoadedImage(String name, Bitmap bitmap) {
        this.name = name;
        this.bitmap = bitmap;
        this.argb = BitmapLoader.pixels(bitmap);
        this.width = bitmap.getWidth();
        this.height = bitmap.getHeight();
    }
}
