package com.shufflenetmobile.demo;

import android.content.res.AssetFileDescriptor;
import android.content.res.AssetManager;

import com.shufflenetmobile.demo.core.Labels;
import com.shufflenetmobile.demo.core.PreprocessingSpec;

import java.io.ByteArrayOutputStream;
import java.io.FileInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.MappedByteBuffer;
import java.nio.channels.FileChannel;
import java.util.Arrays;
import java.util.List;

/**
 * The files the build copies from the export folder into assets/, loaded once.
 *
 * <p>The model is memory-mapped straight from the APK, which only works because the build stores
 * .tflite files uncompressed (Gradle: {@code androidResources.noCompress}; offline: aapt2 -0 tflite).
 */
final class ModelAssets {
    static final String MODEL = "model.tflite";
    static final String LABELS = "labels.txt";
    static final String PREPROCESSING = "preprocessing.json";
    static final String SAMPLES_DIR = "samples";

    final MappedByteBuffer model;
    final List<String> labels;
    final PreprocessingSpec preprocessing;
    final String[] samples;

    private ModelAssets(MappedByteBuffer model, List<String> labels, PreprocessingSpec preprocessing,
                        String[] samples) {
        this.model = model;
        this.labels = labels;
        this.preprocessing = preprocessing;
        this.samples = samples;
    }

    static ModelAssets load(AssetManager assets) throws IOException {
        String[] samples = assets.list(SAMPLES_DIR);
        if (samples == null) {
            samples = new String[0];
        }
        Arrays.sort(samples);
        return new ModelAssets(
                map(assets, MODEL),
                Labels.parse(readText(assets, LABELS)),
                PreprocessingSpec.fromJson(readText(assets, PREPROCESSING)),
                samples);
    }

    private static MappedByteBuffer map(AssetManager assets, String name) throws IOException {
        AssetFileDescriptor fd;
        try {
            fd = assets.openFd(name);
        } catch (IOException e) {
            throw new IOException(name + " is missing or compressed in the APK (it must be stored)", e);
        }
        try {
            FileInputStream in = fd.createInputStream();
            try {
                FileChannel channel = in.getChannel();
                // The mapping stays valid after the stream and descriptor are closed.
                return channel.map(FileChannel.MapMode.READ_ONLY, fd.getStartOffset(), fd.getDeclaredLength());
            } finally {
                in.close();
            }
        } finally {
            fd.close();
        }
    }

    static String readText(AssetManager assets, String name) throws IOException {
        InputStream in = assets.open(name);
        try {
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            byte[] buf = new byte[8192];
            int n;
            while ((n = in.read(buf)) > 0) {
                out.write(buf, 0, n);
            }
            return out.toString("UTF-8");
        } finally {
            in.close();
        }
    }
}
