import Foundation
import Testing
import VigilCore
import VigilFeatures
@testable import VigilDaemon

/// The records of the repartition hop and the join queue, without a broker.
@Suite("Repartition records and the join queue")
struct RepartitionRecordsTests {
    static func event() throws -> Event {
        var event = Event()
        event.id = try #require(EventID("tx-42"))
        event.timeMs = 1_767_225_600_123
        event.watermarkMs = 1_767_225_570_000
        event.offset = 977
        event.entities[0] = try #require(EntityKey("card-7"))
        event.entities[1] = try #require(EntityKey("merchant-é-3"))
        event.numeric[0] = 12.5
        event.numeric[3] = -0.0
        event.categorical[1] = 0xDEAD_BEEF_0123_4567
        event.label = 1
        return event
    }

    /// A request carries everything a secondary entity's features read, bit for bit, and its header.
    @Test func aRequestRoundTripsTheEventAndItsHeader() throws {
        let event = try Self.event()
        let header = SecondaryRequest.Header(
            instance: 0xFEED_FACE_CAFE_BEEF, ticket: 1 << 40 | 9, replyPartition: 5, entity: 1, source: EventSource(topic: FNV1a.hash("tx"), partition: 11))
        var buffer: [UInt8] = []
        SecondaryRequest.encode(event, header, into: &buffer)
        #expect(buffer.count < 145, "absent trailing keys and fields are left out: \(buffer.count) bytes")
        var decoded = Event()
        decoded.numeric[9] = 1
        decoded.categorical[7] = 1
        decoded.entities[3] = try #require(EntityKey("stale"))
        let got = try buffer.withUnsafeBytes { try SecondaryRequest.decode($0, into: &decoded) }
        #expect(got == header)
        #expect(decoded.id == event.id && decoded.timeMs == event.timeMs && decoded.watermarkMs == event.watermarkMs)
        #expect(decoded.offset == event.offset && decoded.label == event.label)
        for i in 0..<event.entities.count {
            #expect(decoded.entities[i] == event.entities[i], "entity \(i)")
            #expect(decoded.entities[i].hash == event.entities[i].hash, "an absent key keeps hash 0, a present one its FNV-1a")
        }
        for i in 0..<event.numeric.count { #expect(decoded.numeric[i].bitPattern == event.numeric[i].bitPattern, "numeric \(i)") }
        for i in 0..<event.categorical.count { #expect(decoded.categorical[i] == event.categorical[i]) }
        #expect(decoded.isLate == event.isLate)
    }

    /// The secondary stage counts each input event once per repartition partition, and keeps that across a
    /// checkpoint.
    @Test func aPartitionCountsEachInputEventOnceAndRemembersIt() throws {
        let config = try VigilConfiguration.load(file: repositoryRoot.appendingPathComponent("configs/vigil.yaml").path)
        let engine = FeatureEngine(specs: config.features, tables: config.tables, ownedEntities: [1])
        var state = SecondaryPartitionState(engine: engine)
        let a = EventSource(topic: FNV1a.hash("tx"), partition: 0)
        let b = EventSource(topic: FNV1a.hash("tx"), partition: 1)
        #expect(state.count(a, offset: 5) && state.count(a, offset: 6) && state.count(b, offset: 2))
        #expect(!state.count(a, offset: 6) && !state.count(a, offset: 3), "sent again: at or below the highest counted offset")
        _ = state.engine.process(try Self.event())
        let restored = try SecondaryPartitionState(decoding: state.encoded(), engine: engine)
        var copy = restored
        #expect(!copy.count(a, offset: 6) && !copy.count(b, offset: 2) && copy.count(b, offset: 3))
        #expect(restored.engine.saveState() == state.engine.saveState(), "the feature state came back too")
        var damaged = state.encoded()
        damaged.removeLast()
        #expect(throws: StateError.self) { _ = try SecondaryPartitionState(decoding: damaged, engine: engine) }
    }

    /// Damaged or foreign records are refused with a reason, never trapped on.
    @Test func damagedRecordsAreRefused() throws {
        var buffer: [UInt8] = []
        SecondaryRequest.encode(try Self.event(), .init(instance: 1, ticket: 2, replyPartition: 0, entity: 1), into: &buffer)
        func decode(_ bytes: [UInt8]) throws {
            var event = Event()
            _ = try bytes.withUnsafeBytes { raw throws(StateError) in try SecondaryRequest.decode(raw, into: &event) }
        }
        for cut in [0, 1, 10, buffer.count / 2, buffer.count - 1] {
            #expect(throws: StateError.self) { try decode(Array(buffer.prefix(cut))) }
        }
        #expect(throws: StateError.self) { try decode(buffer + [0]) }
        var future = buffer
        future[0] = 99
        #expect(throws: StateError.self) { try decode(future) }
        func decodeReply(_ bytes: [UInt8]) throws {
            try bytes.withUnsafeBytes { raw in _ = try SecondaryReply.decode(raw) }
        }
        #expect(throws: StateError.self) { try decodeReply([1, 0, 0]) }
    }

    /// A reply carries exactly the entity's positions, and the join fills only those.
    @Test func aReplyFillsItsEntitysPositions() throws {
        var vector = FeatureVector.undefined
        vector[3] = 7
        vector[5] = .nan
        vector[6] = 0.1 + 0.2
        vector[1] = 99  // not the entity's
        var buffer: [UInt8] = []
        let header = SecondaryRequest.Header(instance: 11, ticket: 0, replyPartition: 0, entity: 1)
        vector.withUnsafeBufferPointer { SecondaryReply.encode(header, positions: [3, 5, 6], vector: $0, into: &buffer) }

        var join = SecondaryJoin(capacity: 4)
        var item = WorkItem(event: try Self.event())
        item.features[0] = 42  // a primary-entity position, left alone
        let ticket = join.append(item, awaiting: 1 << 1, nowNs: 0)
        try buffer.withUnsafeBytes { bytes in
            let reply = try SecondaryReply.decode(bytes)
            #expect(reply.instance == 11 && reply.ticket == ticket && reply.entity == 1 && reply.values.count == 3)
            let first = join.fill(ticket: reply.ticket, entity: reply.entity, reply.values)
            let again = join.fill(ticket: reply.ticket, entity: reply.entity, reply.values)
            #expect(first && !again, "a duplicate reply is ignored")
        }
        var out: [WorkItem] = []
        join.takeReady { out.append($0); return true }
        #expect(out.count == 1)
        #expect(out[0].features[3] == 7 && out[0].features[5].isNaN && out[0].features[6] == 0.1 + 0.2)
        #expect(out[0].features[1].isNaN && out[0].features[0] == 42)
    }

    /// Events leave in input order, only once complete; stale tickets are recognised; a revoked partition's
    /// events leave without being routed; overdue ones are reported for resending.
    @Test func theJoinKeepsInputOrder() throws {
        var join = SecondaryJoin(capacity: 3)
        #expect(join.capacity == 4)
        func item(_ partition: Int32, _ offset: Int64) -> WorkItem {
            var event = Event()
            event.partition = partition
            event.offset = offset
            return WorkItem(event: event)
        }
        let empty = SecondaryReply.Values(bytes: UnsafeRawBufferPointer(start: nil, count: 0), count: 0)
        let a = join.append(item(0, 1), awaiting: 0b10, nowNs: 100)
        let b = join.append(item(1, 1), awaiting: 0b110, nowNs: 200)
        let c = join.append(item(0, 2), awaiting: 0, nowNs: 300)
        var out: [Int64] = []
        let take: (WorkItem) -> Bool = { out.append($0.event.offset * 10 + Int64($0.event.partition)); return true }

        let b1 = join.fill(ticket: b, entity: 1, empty)
        let b2 = join.fill(ticket: b, entity: 2, empty)
        #expect(b1 && b2)
        join.takeReady(take)
        #expect(out.isEmpty, "the head still waits, so nothing behind it leaves")
        var overdue: [UInt64] = []
        join.overdue(beforeNs: 150, nowNs: 1_000) { ticket, _, awaiting in
            overdue.append(ticket)
            #expect(awaiting == 0b10)
        }
        #expect(overdue == [a], "only the head waited past the limit; b is complete, c needs nothing")
        let aFilled = join.fill(ticket: a, entity: 1, empty)
        #expect(aFilled)
        join.takeReady(take)
        #expect(out == [10, 11, 20] && join.isEmpty)
        let stale = join.fill(ticket: a, entity: 1, empty)
        let future = join.fill(ticket: c + 1, entity: 1, empty)
        #expect(!stale && !future, "stale and future tickets")

        let d = join.append(item(0, 3), awaiting: 0b10, nowNs: 0)
        _ = join.append(item(1, 2), awaiting: 0, nowNs: 0)
        #expect(join.waiting(partition: 0) == 1 && join.waiting(partition: 1) == 1)
        join.cancel(partition: 0)
        #expect(join.waiting(partition: 0) == 0)
        out = []
        join.takeReady(take)
        #expect(out == [21], "the revoked partition's event left unrouted; the other one followed")
        let cancelled = join.fill(ticket: d, entity: 1, empty)
        #expect(!cancelled)
        #expect(join.free == 4 && join.nextTicket == d + 2, "tickets keep increasing across wrap-around")
    }
}
