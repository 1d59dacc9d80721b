#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension HalfSpaceTrees {
    /// The inner nodes' splits of every tree, laid out so that a walk reads one cache line per three levels.
    ///
    /// Each tree is cut into blocks of three levels (seven nodes, heap order within the block); a block is one
    /// 64-byte line holding its seven split values and, in its last eight bytes, their inputs (one byte each).
    /// The top block holds the first one, two or three levels, so that every block below it is full (a height
    /// not a multiple of three wastes nothing); blocks are numbered level by level, each block's children in
    /// order (`Cursor`). In heap order with 16-byte splits, every level past the second was a line of its own:
    /// a walk of height 15 read 13 lines of splits instead of 5, and a tree took 512 kB instead of 300 kB.
    ///
    /// `@unchecked Sendable`: the memory is written only in `init`, before the table can be shared, and freed in
    /// `deinit`; everything else reads it. Copies of a model share one table.
    final class SplitTable: @unchecked Sendable {
        static let blockBytes = 64
        /// Where in a block its inputs start (after seven 8-byte values).
        static let inputsOffset = 56

        let trees: Int
        let height: Int
        /// Levels in each tree's top block (1...3).
        let topLevels: Int
        /// Blocks per tree.
        let blocksPerTree: Int
        private let storage: UnsafeMutableRawPointer

        /// A place in a tree's blocks, walked down from the root.
        struct Cursor {
            var block = 0
            var local = 0
            /// The first place of the block's bottom level (3 below the top block).
            var bottom: Int
            /// The block below is `8 block + 2 (local - bottom) + side + bias`.
            var bias = 1
            /// `bias` below the top block: its 2^topLevels children are blocks 1...; every later block's eight
            /// children follow those of the blocks before it on its level.
            let lowerBias: Int

            init(topLevels: Int) {
                bottom = (1 << (topLevels - 1)) - 1
                lowerBias = (1 << topLevels) - 7
            }

            /// Moves to the child on `side` (0 left, 1 right).
            @inline(__always) mutating func descend(_ side: Int) {
                if local >= bottom {
                    block = 8 &* block &+ 2 &* (local &- bottom) &+ side &+ bias
                    local = 0
                    bottom = 3
                    bias = lowerBias
                } else {
                    local = 2 &* local &+ 1 &+ side
                }
            }
        }

        /// Lays out `splits` (every tree's inner nodes, tree after tree, each in heap order).
        init(trees: Int, height: Int, heapOrder splits: [Split]) {
            precondition(height >= 1 && splits.count == trees * ((1 << height) - 1))
            self.trees = trees
            self.height = height
            topLevels = height - 3 * ((height - 1) / 3)
            var (blocks, levelBlocks) = (1, 1 << topLevels)
            for _ in stride(from: topLevels, to: height, by: 3) {
                blocks += levelBlocks
                levelBlocks *= 8
            }
            blocksPerTree = blocks
            let bytes = trees * blocks * Self.blockBytes
            storage = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: Self.blockBytes)
            storage.initializeMemory(as: UInt8.self, repeating: 0, count: bytes)
            let (inner, storage) = ((1 << height) - 1, storage)
            forEachInnerNode { node, place in
                for tree in 0..<trees {
                    let split = splits[tree * inner + node]
                    precondition(split.input >= 0 && split.input <= Int32(UInt8.max))
                    let block = storage + (tree * blocks + place.block) * Self.blockBytes
                    block.storeBytes(of: split.value, toByteOffset: place.local * 8, as: Double.self)
                    block.storeBytes(of: UInt8(split.input), toByteOffset: Self.inputsOffset + place.local, as: UInt8.self)
                }
            }
        }

        deinit {
            storage.deallocate()
        }

        /// The first block of tree `tree`.
        @inline(__always) func tree(_ tree: Int) -> UnsafeRawPointer {
            UnsafeRawPointer(storage + tree * blocksPerTree * Self.blockBytes)
        }

        /// A cursor at a tree's root.
        var root: Cursor { Cursor(topLevels: topLevels) }

        /// The split of inner node `node` (heap order) of tree `tree`.
        subscript(tree tree: Int, node node: Int) -> Split {
            split(tree: tree, at: place(ofHeapNode: node))
        }

        /// Every tree's splits, tree after tree, each in heap order (what `init` was given).
        var heapOrder: [Split] {
            let inner = (1 << height) - 1
            var splits = [Split](repeating: Split(value: 0, input: 0), count: trees * inner)
            forEachInnerNode { node, place in
                for tree in 0..<trees { splits[tree * inner + node] = split(tree: tree, at: place) }
            }
            return splits
        }

        private func split(tree: Int, at place: Cursor) -> Split {
            let split = Self.split(self.tree(tree), at: place)
            return Split(value: split.value, input: Int32(split.input))
        }

        /// The split at `place` of the tree whose first block is `tree` (`tree(_:)`): the one reading of a block's
        /// layout, for the walk and for everything else.
        @inline(__always) static func split(_ tree: UnsafeRawPointer, at place: Cursor) -> (value: Double, input: Int) {
            let line = tree + place.block &* blockBytes
            return (line.load(fromByteOffset: place.local &* 8, as: Double.self), Int(line.load(fromByteOffset: inputsOffset &+ place.local, as: UInt8.self)))
        }

        /// Calls `body` with every inner node (heap order number) and its place, in O(nodes).
        private func forEachInnerNode(_ body: (_ node: Int, _ place: Cursor) -> Void) {
            func visit(_ node: Int, _ place: Cursor, depth: Int) {
                body(node, place)
                guard depth + 1 < height else { return }
                for side in 0...1 {
                    var child = place
                    child.descend(side)
                    visit(2 * node + 1 + side, child, depth: depth + 1)
                }
            }
            visit(0, root, depth: 0)
        }

        /// True when `other` holds the same splits in trees of the same shape.
        func hasSameSplits(as other: SplitTable) -> Bool {
            guard other !== self else { return true }
            guard trees == other.trees, height == other.height else { return false }
            return memcmp(storage, other.storage, trees * blocksPerTree * Self.blockBytes) == 0
        }

        /// Where a node given in heap order is: its path from the root (the bits of `node + 1` after the leading
        /// one) followed block by block.
        func place(ofHeapNode node: Int) -> Cursor {
            let path = node + 1
            let depth = HalfSpaceTrees.depth(ofHeapNode: node)
            var cursor = root
            for level in stride(from: depth - 1, through: 0, by: -1) { cursor.descend((path >> level) & 1) }
            return cursor
        }
    }
}
