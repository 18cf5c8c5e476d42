package com.shufflenetmobile.demo.core;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertNull;
import static org.junit.Assert.assertTrue;

import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.junit.Test;

public class JsonTest {
    @Test
    public void parsesNestedValues() {
        Map<String, Object> d = Json.parseObject(
                "{\"a\": [1, 2.5, -3e2], \"b\": {\"c\": true, \"d\": null}, \"e\": \"x\\\"y\\u00e9\\n\"}");
        assertEquals(Arrays.<Object>asList(1.0, 2.5, -300.0), d.get("a"));
        @SuppressWarnings("unchecked")
        Map<String, Object> b = (Map<String, Object>) d.get("b");
        assertEquals(Boolean.TRUE, b.get("c"));
        assertTrue(b.containsKey("d"));
        assertNull(b.get("d"));
        assertEquals("x\"y\u00e9\n", d.get("e"));
    }

    @Test
    public void numbersRoundTripPythonRepr() {
        // json.dumps(1/255) in Python writes this repr; it must come back as the same double.
        assertEquals(1.0 / 255.0, (Double) Json.parse("0.00392156862745098"), 0.0);
        assertEquals(0.2435, (Double) Json.parse("0.2435"), 0.0);
    }

    @Test
    public void emptyContainers() {
        assertEquals(0, ((List<?>) Json.parse(" [ ] ")).size());
        assertEquals(0, Json.parseObject("{}").size());
    }

    @Test(expected = IllegalArgumentException.class)
    public void rejectsTrailingGarbage() {
        Json.parse("{\"a\": 1} x");
    }

    @Test(expected = IllegalArgumentException.class)
    public void rejectsUnterminatedObject() {
        Json.parse("{\"a\": 1");
    }

    @Test(expected = IllegalArgumentException.class)
    public void rejectsNonObjectTopLevel() {
        Json.parseObject("[1]");
    }
}
