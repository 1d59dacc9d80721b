import Foundation
public import VigilCore

/// Logistic regression trained online by FTRL-Proximal (McMahan et al., "Ad Click Prediction: a View from the
/// Trenches", KDD 2013): per-coordinate learning rates and L1/L2 regularisation, with weights computed lazily
/// from the accumulated `z` and `n`.
public struct FTRLProximal: Sendable, Equatable {
    public let alpha: Double
    public let beta: Double
    public let l1: Double
    public let l2: Double
    /// One coordinate per input plus the bias (the last).
    private var z: [Double]
    private var n: [Double]

    public init(dimensions: Int, alpha: Double = 0.1, beta: Double = 1, l1: Double = 1, l2: Double = 1) {
        self.alpha = alpha
        self.beta = beta
        self.l1 = l1
        self.l2 = l2
        z = Array(repeating: 0, count: dimensions + 1)
        n = Array(repeating: 0, count: dimensions + 1)
    }

    public var dimensions: Int { z.count - 1 }

    /// The weight of coordinate `i` (the bias is `dimensions`).
    public func weight(_ i: Int) -> Double {
        let zi = z[i]
        guard abs(zi) > l1 else { return 0 }
        return -(zi - (zi < 0 ? -l1 : l1)) / ((beta + n[i].squareRoot()) / alpha + l2)
    }

    /// The predicted probability of the positive class for `x`.
    public func predict(_ x: UnsafeBufferPointer<Double>) -> Double {
        var dot = weight(dimensions)
        for i in 0..<dimensions { dot += weight(i) * x[i] }
        return 1 / (1 + exp(-max(-35, min(35, dot))))
    }

    /// One FTRL step on (x, y).
    public mutating func learn(_ x: UnsafeBufferPointer<Double>, label: Bool) {
        let p = predict(x)
        let y = label ? 1.0 : 0.0
        for i in 0...dimensions {
            let xi = i == dimensions ? 1 : x[i]
            guard xi != 0 else { continue }
            let g = (p - y) * xi
            let sigma = ((n[i] + g * g).squareRoot() - n[i].squareRoot()) / alpha
            z[i] += g - sigma * weight(i)
            n[i] += g * g
        }
    }
}

extension FTRLProximal: BinaryStateRepresentable {
    public func write(to w: inout BinaryWriter) {
        w.write(alpha); w.write(beta); w.write(l1); w.write(l2); w.write(z); w.write(n)
    }

    public init(from r: inout BinaryReader) throws(StateError) {
        alpha = try r.readDouble(); beta = try r.readDouble(); l1 = try r.readDouble(); l2 = try r.readDouble()
        z = try r.readDoubles(); n = try r.readDoubles()
        guard z.count == n.count, !z.isEmpty, alpha > 0 else { throw StateError("FTRL: inconsistent state") }
    }
}
