package com.shufflenetmobile.demo.core;

import static org.junit.Assert.assertEquals;

import java.util.Arrays;
import java.util.List;
import org.junit.Test;

public class ClassificationTest {
    @Test
    public void softmaxIsNormalisedAndStable() {
        double[] p = Classification.softmax(new double[] {1000.0, 1001.0, 999.0});
        assertEquals(1.0, p[0] + p[1] + p[2], 1e-15);
        assertEquals(Math.exp(1) / (1 + Math.exp(1) + Math.exp(-1)), p[1], 1e-15);
    }

    @Test
    public void topKIsSortedWithLowerIndexFirstOnTies() {
        List<String> labels = Arrays.asList("a", "b", "c", "d");
        List<Prediction> top = Classification.topK(new double[] {0.2, 0.3, 0.3, 0.2}, labels, 3);
        assertEquals(3, top.size());
        assertEquals(1, top.get(0).index);
        assertEquals("b", top.get(0).label);
        assertEquals(2, top.get(1).index);
        assertEquals(0, top.get(2).index);
        assertEquals(0.2, top.get(2).probability, 0.0);
    }

    @Test
    public void kLargerThanTheClassCount() {
        List<Prediction> top = Classification.topK(new double[] {0.9, 0.1}, Arrays.asList("x", "y"), 5);
        assertEquals(2, top.size());
        assertEquals("x", top.get(0).label);
    }

    @Test
    public void missingLabelsGetAPlaceholder() {
        List<Prediction> top = Classification.topK(new double[] {0.1, 0.9}, Arrays.asList("only"), 1);
        assertEquals("class 1", top.get(0).label);
    }
}
