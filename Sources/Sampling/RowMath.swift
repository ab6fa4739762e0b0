/// The few whole-row passes the sampler needs (maximum, first index of a value, sums of exponentials), written with
/// 8-wide SIMD so that a 49,152-entry row costs microseconds, and with an exponential of our own made of IEEE basic
/// operations only, so that the probabilities (and therefore seeded draws) are bit-identical on every machine.
enum RowMath {
    typealias Vector = SIMD8<Float>
    static let width = Vector.scalarCount
    /// Below this, `exp` is under Float's smallest normal number; we return exactly 0 (masked tokens land here too).
    static let expFloor: Float = -87.3

    /// 1.5 × 2^23: adding it rounds a Float of magnitude below 2^22 to the nearest integer (IEEE round-to-nearest,
    /// no platform `floor`), and leaves that integer in the low mantissa bits, where `roundingMagicBits` uncovers it.
    static let roundingMagic: Float = 12_582_912
    static let roundingMagicBits = Int32(bitPattern: roundingMagic.bitPattern)

    /// `exp(x)` for `x ≤ 0` (what the sampler always passes: a logit minus the maximum), relative error about 2e-7.
    /// Cody–Waite reduction by ln 2 (n = x·log2(e) rounded to nearest, so |r| ≤ ln2/2) and Cephes' degree-6
    /// polynomial for e^r; -infinity, NaN and x < -87.3 give 0.
    @inline(__always)
    static func exp(_ x: Float) -> Float {
        guard x >= expFloor else { return 0 }
        let clamped = Swift.min(x, 0)
        let shifted = clamped * 1.442_695_04 + roundingMagic
        let n = shifted - roundingMagic
        let r = clamped - n * 0.693_359_375 + n * 2.121_944_4e-4
        var p: Float = 1.987_569_15e-4
        p = p * r + 1.398_199_95e-3
        p = p * r + 8.333_451_9e-3
        p = p * r + 4.166_579_59e-2
        p = p * r + 1.666_666_55e-1
        p = p * r + 5.000_000_1e-1
        let e = p * (r * r) + r + 1
        let exponent = Int32(bitPattern: shifted.bitPattern) &- roundingMagicBits &+ 127
        return e * Float(bitPattern: UInt32(bitPattern: exponent &<< 23))
    }

    /// The same operations as `exp(_: Float)`, lane by lane, so a token's weight does not depend on which path
    /// computed it.
    @inline(__always)
    static func exp(_ x: Vector) -> Vector {
        let valid = x .>= Vector(repeating: expFloor)
        var clamped = x.replacing(with: Vector(repeating: expFloor), where: .!valid)
        clamped = clamped.replacing(with: 0, where: clamped .> 0)
        let shifted = clamped * 1.442_695_04 + roundingMagic
        let n = shifted - roundingMagic
        let r = clamped - n * 0.693_359_375 + n * 2.121_944_4e-4
        var p = Vector(repeating: 1.987_569_15e-4)
        p = p * r + 1.398_199_95e-3
        p = p * r + 8.333_451_9e-3
        p = p * r + 4.166_579_59e-2
        p = p * r + 1.666_666_55e-1
        p = p * r + 5.000_000_1e-1
        let e = p * (r * r) + r + 1
        let exponent = unsafeBitCast(shifted, to: SIMD8<Int32>.self) &- roundingMagicBits &+ 127
        let scale = unsafeBitCast(exponent &<< 23, to: Vector.self)
        return (e * scale).replacing(with: 0, where: .!valid)
    }

    /// A value a little below the largest x with `exp(x) < weight` (for 0 < weight ≤ 1): every x with
    /// `exp(x) ≥ weight` is above it. Found by bisection on our own `exp`, so no platform `log` is involved; used only
    /// as a cheap pre-filter before the exact weight comparison.
    static func logarithmBound(of weight: Float) -> Float {
        guard weight > 0 else { return -.infinity }
        var low: Float = -104, high: Float = 0
        for _ in 0..<40 {
            let middle = (low + high) / 2
            if exp(middle) >= weight { high = middle } else { low = middle }
        }
        return low - 0.01
    }

    @inline(__always)
    static func load(_ base: UnsafePointer<Float>, _ i: Int) -> Vector {
        UnsafeRawPointer(base + i).loadUnaligned(as: Vector.self)
    }

    /// The largest value, ignoring NaN; -infinity for an empty or fully masked row.
    static func maximum(_ row: UnsafeBufferPointer<Float>) -> Float {
        guard let base = row.baseAddress else { return -.infinity }
        let n = row.count
        var best = Vector(repeating: -.infinity)
        var i = 0
        while i + width <= n {
            let v = load(base, i)
            best = best.replacing(with: v, where: best .< v)
            i += width
        }
        var result = best.max()
        while i < n {
            if base[i] > result { result = base[i] }
            i += 1
        }
        return result
    }

    /// The lowest index holding exactly `value` (greedy's tie rule), or nil.
    static func firstIndex(of value: Float, in row: UnsafeBufferPointer<Float>) -> Int? {
        guard let base = row.baseAddress else { return nil }
        let n = row.count
        let target = Vector(repeating: value)
        var i = 0
        while i + width <= n {
            if any(load(base, i) .== target) { break }
            i += width
        }
        while i < n {
            if base[i] == value { return i }
            i += 1
        }
        return nil
    }

    /// Elements summed in Float lanes before each Double accumulation: keeps the sum of 49,152 terms accurate to
    /// about 1e-7 relative while the inner loop stays in SIMD registers.
    static let block = 512

    /// Σ exp((row[i] − shift) × scale) in Double (each term through `exp` above; masked entries add 0).
    static func sumOfExponentials(_ row: UnsafeBufferPointer<Float>, shift: Float, scale: Float = 1) -> Double {
        guard let base = row.baseAddress else { return 0 }
        let n = row.count
        var total = 0.0
        var i = 0
        while i + width <= n {
            let end = Swift.min(n - (n - i) % width, i + block)
            var lanes = Vector(repeating: 0)
            while i < end {
                lanes += exp((load(base, i) - shift) * scale)
                i += width
            }
            total += laneSum(lanes)
        }
        while i < n {
            total += Double(exp((base[i] - shift) * scale))
            i += 1
        }
        return total
    }

    /// Replaces each entry by its weight exp((row[i] − shift) × scale) and writes the sum of every `block` entries to
    /// `blockSums` (so a draw can find its block first and then scan only 512 entries). Returns the total.
    static func exponentiateInPlace(_ row: UnsafeMutableBufferPointer<Float>, shift: Float, scale: Float,
                                    blockSums: inout [Double]) -> Double {
        blockSums.removeAll(keepingCapacity: true)
        guard let base = row.baseAddress else { return 0 }
        let n = row.count
        var total = 0.0
        var start = 0
        while start < n {
            let end = Swift.min(n, start + block)
            var lanes = Vector(repeating: 0)
            var i = start
            while i + width <= end {
                let w = exp((load(base, i) - shift) * scale)
                UnsafeMutableRawPointer(base + i).storeBytes(of: w, as: Vector.self)
                lanes += w
                i += width
            }
            var sum = laneSum(lanes)
            while i < end {
                let w = exp((base[i] - shift) * scale)
                base[i] = w
                sum += Double(w)
                i += 1
            }
            blockSums.append(sum)
            total += sum
            start = end
        }
        return total
    }

    /// For a top-p cut without top-k: the total mass Σ exp(row − max) and, for each of eight weight floors, the mass
    /// of the entries whose weight reaches that floor, all in one pass. The highest floor whose mass already reaches p
    /// bounds the set that must be gathered; the rest of the row is never touched again.
    static func massesAboveFloors(_ row: UnsafeBufferPointer<Float>, maximum: Float,
                                  floors: SIMD8<Float>) -> (total: Double, above: SIMD8<Double>) {
        guard let base = row.baseAddress else { return (0, .zero) }
        let n = row.count
        let f = (Vector(repeating: floors[0]), Vector(repeating: floors[1]), Vector(repeating: floors[2]),
                 Vector(repeating: floors[3]), Vector(repeating: floors[4]), Vector(repeating: floors[5]),
                 Vector(repeating: floors[6]), Vector(repeating: floors[7]))
        var total = 0.0
        var above = SIMD8<Double>.zero
        var i = 0
        while i + width <= n {
            let end = Swift.min(n - (n - i) % width, i + block)
            var all = Vector(repeating: 0), a0 = all, a1 = all, a2 = all, a3 = all, a4 = all, a5 = all, a6 = all, a7 = all
            while i < end {
                let w = exp(load(base, i) - maximum)
                all += w
                a0 += w.replacing(with: 0, where: w .< f.0)
                a1 += w.replacing(with: 0, where: w .< f.1)
                a2 += w.replacing(with: 0, where: w .< f.2)
                a3 += w.replacing(with: 0, where: w .< f.3)
                a4 += w.replacing(with: 0, where: w .< f.4)
                a5 += w.replacing(with: 0, where: w .< f.5)
                a6 += w.replacing(with: 0, where: w .< f.6)
                a7 += w.replacing(with: 0, where: w .< f.7)
                i += width
            }
            total += laneSum(all)
            above += SIMD8(laneSum(a0), laneSum(a1), laneSum(a2), laneSum(a3),
                           laneSum(a4), laneSum(a5), laneSum(a6), laneSum(a7))
        }
        while i < n {
            let w = exp(base[i] - maximum)
            total += Double(w)
            for j in 0..<8 where w >= floors[j] { above[j] += Double(w) }
            i += 1
        }
        return (total, above)
    }

    /// Lane sum in a fixed order (so every machine adds the same way).
    @inline(__always)
    static func laneSum(_ v: Vector) -> Double {
        var s = 0.0
        for lane in 0..<width { s += Double(v[lane]) }
        return s
    }
}
