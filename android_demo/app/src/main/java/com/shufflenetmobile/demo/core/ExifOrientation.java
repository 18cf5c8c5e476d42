package com.shufflenetmobile.demo.core;

import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;

/**
 * The EXIF orientation tag (0x0112) of a JPEG, PNG ({@code eXIf} chunk) or WebP ({@code EXIF} chunk)
 * stream, and how to apply it to packed pixels.
 *
 * <p>Why a small parser of our own instead of {@code android.media.ExifInterface(InputStream)}: that
 * constructor is API 24, the offline build compiles against the API-23 {@code android.jar}, and a
 * compile-only stub of a framework class could not be run here; this class is plain Java, so the
 * whole path from file bytes to upright pixels is tested on the desktop JVM against Pillow's
 * {@code ImageOps.exif_transpose} (tests/android_demo/test_android_exif.py). It reads only what it
 * needs and never more than {@link #MAX_SEGMENT} bytes; anything unreadable counts as "no rotation".
 * Not covered: HEIF/AVIF photos (their EXIF sits in an ISO-BMFF box); they are shown as stored.
 */
public final class ExifOrientation {
    /** Orientation 1, the stored pixels are upright. */
    public static final int NORMAL = 1;
    /** Largest EXIF segment or chunk read (JPEG APP1 cannot exceed 64 KB anyway). */
    static final int MAX_SEGMENT = 1 << 20;

    private ExifOrientation() {}

    /** The orientation (1..8) of the image in {@code in}, or {@link #NORMAL} when there is none. */
    public static int read(InputStream in) throws IOException {
        DataInputStream d = new DataInputStream(in);
        byte[] head = new byte[4];
        try {
            d.readFully(head);
            if ((head[0] & 0xFF) == 0xFF && (head[1] & 0xFF) == 0xD8) {
                return fromJpeg(d, head);
            }
            if ((head[0] & 0xFF) == 0x89 && head[1] == 'P' && head[2] == 'N' && head[3] == 'G') {
                return fromPng(d);
            }
            if (head[0] == 'R' && head[1] == 'I' && head[2] == 'F' && head[3] == 'F') {
                return fromWebp(d);
            }
        } catch (EOFException e) {
            return NORMAL;
        }
        return NORMAL;
    }

    private static int fromJpeg(DataInputStream d, byte[] head) throws IOException {
        int marker = head[3] & 0xFF;
        if ((head[2] & 0xFF) != 0xFF) {
            return NORMAL;
        }
        while (true) {
            if (marker == 0xD9 || marker == 0xDA) {
                return NORMAL; // end of image or start of scan: no EXIF before the pixels
            }
            int length = d.readUnsignedShort() - 2;
            if (length < 0) {
                return NORMAL;
            }
            if (marker == 0xE1 && length >= 6) {
                byte[] seg = readBytes(d, length);
                if (seg[0] == 'E' && seg[1] == 'x' && seg[2] == 'i' && seg[3] == 'f' && seg[4] == 0 && seg[5] == 0) {
                    return fromTiff(seg, 6);
                }
            } else {
                skipFully(d, length);
            }
            int ff = d.readUnsignedByte();
            marker = d.readUnsignedByte();
            while (ff == 0xFF && marker == 0xFF) {
                marker = d.readUnsignedByte(); // fill bytes
            }
            if (ff != 0xFF) {
                return NORMAL;
            }
        }
    }

    private static int fromPng(DataInputStream d) throws IOException {
        skipFully(d, 4); // rest of the 8-byte signature
        while (true) {
            int length = d.readInt();
            byte[] type = readBytes(d, 4);
            String name = new String(type, "ISO-8859-1");
            if (name.equals("eXIf")) {
                return fromTiff(readBytes(d, length), 0);
            }
            if (name.equals("IDAT") || name.equals("IEND") || length < 0) {
                return NORMAL; // eXIf must precede the image data to count
            }
            skipFully(d, (long) length + 4); // data + CRC
        }
    }

    private static int fromWebp(DataInputStream d) throws IOException {
        skipFully(d, 4); // RIFF size
        byte[] form = readBytes(d, 4);
        if (!new String(form, "ISO-8859-1").equals("WEBP")) {
            return NORMAL;
        }
        while (true) {
            String name = new String(readBytes(d, 4), "ISO-8859-1");
            int length = Integer.reverseBytes(d.readInt());
            if (length < 0) {
                return NORMAL;
            }
            if (name.equals("EXIF")) {
                byte[] chunk = readBytes(d, length);
                // Some writers keep JPEG's "Exif\0\0" prefix in the chunk.
                boolean prefixed = chunk.length >= 6 && chunk[0] == 'E' && chunk[1] == 'x' && chunk[4] == 0;
                return fromTiff(chunk, prefixed ? 6 : 0);
            }
            skipFully(d, length + (length & 1)); // chunks are padded to even sizes
        }
    }

    /** Orientation from a TIFF header + IFD0 starting at {@code base}. */
    static int fromTiff(byte[] b, int base) {
        if (b.length < base + 8) {
            return NORMAL;
        }
        boolean little;
        if (b[base] == 'I' && b[base + 1] == 'I') {
            little = true;
        } else if (b[base] == 'M' && b[base + 1] == 'M') {
            little = false;
        } else {
            return NORMAL;
        }
        if (u16(b, base + 2, little) != 42) {
            return NORMAL;
        }
        long ifd = u32(b, base + 4, little);
        if (ifd < 8 || base + ifd + 2 > b.length) {
            return NORMAL;
        }
        int p = (int) (base + ifd);
        int count = u16(b, p, little);
        for (int i = 0; i < count; i++) {
            int e = p + 2 + 12 * i;
            if (e + 12 > b.length) {
                return NORMAL;
            }
            if (u16(b, e, little) == 0x0112) {
                int type = u16(b, e + 2, little);
                int value = type == 3 ? u16(b, e + 8, little) : type == 4 ? (int) u32(b, e + 8, little) : 0;
                return value >= 1 && value <= 8 ? value : NORMAL;
            }
        }
        return NORMAL;
    }

    private static int u16(byte[] b, int i, boolean little) {
        int a = b[i] & 0xFF;
        int c = b[i + 1] & 0xFF;
        return little ? a | (c << 8) : (a << 8) | c;
    }

    private static long u32(byte[] b, int i, boolean little) {
        long lo = u16(b, little ? i : i + 2, little);
        long hi = u16(b, little ? i + 2 : i, little);
        return (hi << 16) | lo;
    }

    private static byte[] readBytes(DataInputStream d, int n) throws IOException {
        if (n < 0 || n > MAX_SEGMENT) {
            throw new EOFException("segment of " + n + " bytes");
        }
        ByteArrayOutputStream out = new ByteArrayOutputStream(n);
        byte[] buf = new byte[Math.min(n, 8192)];
        int left = n;
        while (left > 0) {
            int got = d.read(buf, 0, Math.min(left, buf.length));
            if (got < 0) {
                throw new EOFException();
            }
            out.write(buf, 0, got);
            left -= got;
        }
        return out.toByteArray();
    }

    private static void skipFully(DataInputStream d, long n) throws IOException {
        while (n > 0) {
            long skipped = d.skip(n);
            if (skipped <= 0) {
                if (d.read() < 0) {
                    throw new EOFException();
                }
                skipped = 1;
            }
            n -= skipped;
        }
    }

    /**
     * Clockwise rotation in degrees (0, 90, 180, 270) that, followed by {@link #mirrorsAfterRotation}, turns
     * the stored image upright: the decomposition an {@code android.graphics.Matrix} uses
     * ({@code setRotate(degrees)}, then {@code postScale(-1, 1)} when mirrored).
     */
    public static int rotationDegrees(int orientation) {
        switch (orientation) {
            case 3: // rotate 180
            case 4: // flip vertical = rotate 180 + mirror
                return 180;
            case 5: // transpose = rotate 90 + mirror
            case 6: // rotate 90 clockwise
                return 90;
            case 7: // transverse = rotate 270 + mirror
            case 8: // rotate 270 clockwise
                return 270;
            default:
                return 0;
        }
    }

    /** Whether the image is mirrored left-right after {@link #rotationDegrees} (orientations 2, 4, 5, 7). */
    public static boolean mirrorsAfterRotation(int orientation) {
        return orientation == 2 || orientation == 4 || orientation == 5 || orientation == 7;
    }

    /** Whether the upright image has width and height swapped (orientations 5 to 8). */
    public static boolean swapsSides(int orientation) {
        return rotationDegrees(orientation) % 180 != 0;
    }

    /**
     * Upright copy of {@code width x height} packed pixels: rotated clockwise by
     * {@link #rotationDegrees}, then mirrored if {@link #mirrorsAfterRotation}. The result is
     * {@code height x width} when {@link #swapsSides}. Orientation 1 returns {@code pixels} itself.
     */
    public static int[] apply(int[] pixels, int width, int height, int orientation) {
        int degrees = rotationDegrees(orientation);
        boolean mirror = mirrorsAfterRotation(orientation);
        if (degrees == 0 && !mirror) {
            return pixels;
        }
        boolean swap = degrees % 180 != 0;
        int outW = swap ? height : width;
        int outH = swap ? width : height;
        int[] out = new int[pixels.length];
        for (int y = 0; y < height; y++) {
            for (int x = 0; x < width; x++) {
                int ox;
                int oy;
                switch (degrees) {
                    case 90:
                        ox = height - 1 - y;
                        oy = x;
                        break;
                    case 180:
                        ox = width - 1 - x;
                        oy = height - 1 - y;
                        break;
                    case 270:
                        ox = y;
                        oy = width - 1 - x;
                        break;
                    default:
                        ox = x;
                        oy = y;
                        break;
                }
                if (mirror) {
                    ox = outW - 1 - ox;
                }
                out[oy * outW + ox] = pixels[y * width + x];
            }
        }
        return out;
    }
}
