/// The sizes every stage resizes to, computed from the decoded size and the config before any pixel work, so each
/// rule is stated once and can be replicated by the numpy reference (scripts/fixtures/vision_resize_reference.py).
/// Integer rounding follows the Python originals exactly (same IEEE double arithmetic, `int()` truncation).
enum ResizePlan {
    /// The seed server's auto-resize: only when a side exceeds `maxDimension` (0 = off), scale by
    /// min(max / w, max / h) and truncate, keeping the aspect ratio (image_utils.py: `int(w * scale)`).
    static func autoResize(width: Int, height: Int, maxDimension: Int) -> (width: Int, height: Int)? {
        guard maxDimension > 0, width > maxDimension || height > maxDimension else { return nil }
        let scale = min(Double(maxDimension) / Double(width), Double(maxDimension) / Double(height))
        return (max(1, Int(Double(width) * scale)), max(1, Int(Double(height) * scale)))
    }

    /// Idefics3's first resize: the longest edge becomes exactly `longestEdge` (up or down), the other side is
    /// `int(longest / aspect)` rounded up to an even number (Idefics3ImageProcessor `_resize_output_size_rescale_to_max_len`).
    static func toLongestEdge(width: Int, height: Int, longestEdge: Int) -> (width: Int, height: Int) {
        let aspect = Double(width) / Double(height)
        var w = width, h = height
        if w >= h {
            w = longestEdge
            h = Int(Double(w) / aspect)
            if h % 2 != 0 { h += 1 }
        } else {
            h = longestEdge
            w = Int(Double(h) * aspect)
            if w % 2 != 0 { w += 1 }
        }
        return (max(w, 1), max(h, 1))
    }

    /// Idefics3's `resize_for_vision_encoder`: both sides become multiples of the patch size, the longer one by
    /// rounding up, the shorter from the aspect ratio, rounded up too (at least one patch).
    static func toPatchMultiples(width: Int, height: Int, patch: Int) -> (width: Int, height: Int) {
        let aspect = Double(width) / Double(height)
        func roundUp(_ v: Int) -> Int { max(patch, Int((Double(v) / Double(patch)).rounded(.up)) * patch) }
        if width >= height {
            let w = roundUp(width)
            return (w, roundUp(Int(Double(w) / aspect)))
        } else {
            let h = roundUp(height)
            return (roundUp(Int(Double(h) * aspect)), h)
        }
    }

    /// Patches along the longest edge for a tile budget: the host passes Idefics3's size / max_image_size squared
    /// (SmolVLM: 1536 / 384 = 4 → max_tiles 16), so the longest edge is floor(sqrt(max_tiles)) patches.
    static func patchesPerSide(maxTiles: Int) -> Int {
        var n = 1
        while (n + 1) * (n + 1) <= maxTiles { n += 1 }
        return n
    }
}
