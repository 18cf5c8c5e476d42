package com.shufflenetmobile.demo.core;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertSame;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import org.junit.Test;

public class ExifOrientationTest {
    /** TIFF header + IFD0 with one or two entries (orientation last), in either byte order. */
    private static byte[] tiff(boolean little, int orientation) {
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        b.write(little ? 'I' : 'M');
        b.write(little ? 'I' : 'M');
        u16(b, 42, little);
        u32(b, 8, little);
        u16(b, 2, little); // two entries
        u16(b, 0x010F, little); // Make, ASCII, 4 bytes inline
        u16(b, 2, little);
        u32(b, 4, little);
        b.write('A');
        b.write('c');
        b.write('m');
        b.write(0);
        u16(b, 0x0112, little); // Orientation, SHORT, 1
        u16(b, 3, little);
        u32(b, 1, little);
        u16(b, orientation, little);
        u16(b, 0, little);
        u32(b, 0, little); // no next IFD
        return b.toByteArray();
    }

    private static void u16(ByteArrayOutputStream b, int v, boolean little) {
        b.write(little ? v & 0xFF : (v >> 8) & 0xFF);
        b.write(little ? (v >> 8) & 0xFF : v & 0xFF);
    }

    private static void u32(ByteArrayOutputStream b, int v, boolean little) {
        if (little) {
            u16(b, v & 0xFFFF, true);
            u16(b, v >>> 16, true);
        } else {
            u16(b, v >>> 16, false);
            u16(b, v & 0xFFFF, false);
        }
    }

    private static byte[] jpeg(byte[] tiff, boolean withJfifFirst) {
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        b.write(0xFF);
        b.write(0xD8);
        if (withJfifFirst) {
            byte[] jfif = {'J', 'F', 'I', 'F', 0, 1, 1, 0, 0, 1, 0, 1, 0, 0};
            b.write(0xFF);
            b.write(0xE0);
            u16(b, jfif.length + 2, false);
            b.write(jfif, 0, jfif.length);
        }
        b.write(0xFF);
        b.write(0xE1);
        u16(b, tiff.length + 8, false);
        byte[] exif = {'E', 'x', 'i', 'f', 0, 0};
        b.write(exif, 0, exif.length);
        b.write(tiff, 0, tiff.length);
        b.write(0xFF);
        b.write(0xDA); // start of scan: the parser stops here
        return b.toByteArray();
    }

    private static int read(byte[] data) throws IOException {
        return ExifOrientation.read(new ByteArrayInputStream(data));
    }

    @Test
    public void readsJpegExifInBothByteOrders() throws IOException {
        for (int o = 1; o <= 8; o++) {
            assertEquals(o, read(jpeg(tiff(true, o), false)));
            assertEquals(o, read(jpeg(tiff(false, o), true)));
        }
    }

    @Test
    public void readsPngAndWebpExifChunks() throws IOException {
        byte[] t = tiff(false, 6);
        ByteArrayOutputStream png = new ByteArrayOutputStream();
        png.write(new byte[] {(byte) 0x89, 'P', 'N', 'G', 13, 10, 26, 10}, 0, 8);
        u32(png, 13, false);
        png.write(new byte[] {'I', 'H', 'D', 'R'}, 0, 4);
        png.write(new byte[13 + 4], 0, 17); // IHDR data + CRC (not checked)
        u32(png, t.length, false);
        png.write(new byte[] {'e', 'X', 'I', 'f'}, 0, 4);
        png.write(t, 0, t.length);
        png.write(new byte[4], 0, 4);
        assertEquals(6, read(png.toByteArray()));

        ByteArrayOutputStream webp = new ByteArrayOutputStream();
        webp.write(new byte[] {'R', 'I', 'F', 'F', 0, 0, 0, 0, 'W', 'E', 'B', 'P'}, 0, 12);
        webp.write(new byte[] {'V', 'P', '8', 'X'}, 0, 4);
        u32(webp, 10, true);
        webp.write(new byte[10], 0, 10);
        byte[] t8 = tiff(true, 8);
        webp.write(new byte[] {'E', 'X', 'I', 'F'}, 0, 4);
        u32(webp, t8.length, true);
        webp.write(t8, 0, t8.length);
        assertEquals(8, read(webp.toByteArray()));
    }

    @Test
    public void anythingElseIsUpright() throws IOException {
        assertEquals(1, read(new byte[0]));
        assertEquals(1, read(new byte[] {'G', 'I', 'F', '8', '9', 'a'}));
        assertEquals(1, read(jpeg(tiff(true, 9), false))); // out of range
        byte[] cut = jpeg(tiff(true, 6), false);
        assertEquals(1, read(java.util.Arrays.copyOf(cut, 20))); // truncated
        assertEquals(1, read(new byte[] {(byte) 0xFF, (byte) 0xD8, (byte) 0xFF, (byte) 0xDA}));
    }

    /** The upright pixel (x, y) taken from the stored image, straight from the EXIF definitions. */
    private static int stored(int[] px, int w, int h, int o, int x, int y) {
        switch (o) {
            case 2: return px[y * w + (w - 1 - x)];
            case 3: return px[(h - 1 - y) * w + (w - 1 - x)];
            case 4: return px[(h - 1 - y) * w + x];
            case 5: return px[x * w + y];
            case 6: return px[(h - 1 - x) * w + y];
            case 7: return px[(h - 1 - x) * w + (w - 1 - y)];
            case 8: return px[x * w + (w - 1 - y)];
            default: return px[y * w + x];
        }
    }

    @Test
    public void applyTurnsEveryOrientationUpright() {
        int w = 4;
        int h = 3;
        int[] px = new int[w * h];
        for (int i = 0; i < px.length; i++) {
            px[i] = i;
        }
        assertSame(px, ExifOrientation.apply(px, w, h, 1));
        for (int o = 2; o <= 8; o++) {
            int[] up = ExifOrientation.apply(px, w, h, o);
            int uw = ExifOrientation.swapsSides(o) ? h : w;
            int uh = ExifOrientation.swapsSides(o) ? w : h;
            int[] want = new int[px.length];
            for (int y = 0; y < uh; y++) {
                for (int x = 0; x < uw; x++) {
                    want[y * uw + x] = stored(px, w, h, o, x, y);
                }
            }
            assertArrayEquals("orientation " + o, want, up);
        }
    }

    @Test
    public void rotationThenMirrorIsTheMatrixDecomposition() {
        int[] degrees = {0, 0, 0, 180, 180, 90, 90, 270, 270};
        boolean[] mirror = {false, false, true, false, true, true, false, true, false};
        for (int o = 1; o <= 8; o++) {
            assertEquals(degrees[o], ExifOrientation.rotationDegrees(o));
            assertEquals(mirror[o], ExifOrientation.mirrorsAfterRotation(o));
        }
    }
}
