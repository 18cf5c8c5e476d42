package com.shufflenetmobile.demo.core;

import static org.junit.Assert.assertEquals;

import java.util.Arrays;
import org.junit.Test;

public class LabelsTest {
    @Test
    public void oneClassPerLine() {
        assertEquals(Arrays.asList("airplane", "automobile", "bird"), Labels.parse("airplane\nautomobile\nbird\n"));
        assertEquals(Arrays.asList("a", "b"), Labels.parse("a\nb"));
    }

    @Test
    public void windowsLineEndings() {
        assertEquals(Arrays.asList("a b", "c"), Labels.parse("a b\r\nc\r\n"));
    }

    @Test
    public void emptyLinesInsideKeepTheirIndex() {
        // Dropping them would shift every later label to the wrong output index.
        assertEquals(Arrays.asList("a", "", "c"), Labels.parse("a\n\nc\n\n"));
    }
}
