/// Parses ISO-8601 / RFC 3339 timestamps (`2026-11-25T12:34:56.789Z`, `...+01:00`, `...+0100`, a space for the
/// `T`, no zone meaning UTC) to milliseconds since the epoch, without Foundation and without allocating.
public enum ISO8601 {
    public static func milliseconds(_ bytes: UnsafeRawBufferPointer) -> Int64? {
        var i = 0
        func digits(_ count: Int) -> Int? {
            guard i + count <= bytes.count else { return nil }
            var value = 0
            for _ in 0..<count {
                let b = bytes[i]
                guard b >= 48, b <= 57 else { return nil }
                value = value * 10 + Int(b - 48)
                i += 1
            }
            return value
        }
        func expect(_ c: UInt8) -> Bool {
            guard i < bytes.count, bytes[i] == c else { return false }
            i += 1
            return true
        }
        guard let year = digits(4), expect(45), let month = digits(2), expect(45), let day = digits(2) else { return nil }
        guard i < bytes.count, bytes[i] == 84 || bytes[i] == 116 || bytes[i] == 32 else { return nil }
        i += 1
        guard let hour = digits(2), expect(58), let minute = digits(2), expect(58), let second = digits(2) else { return nil }
        guard (1...12).contains(month), (1...daysIn(month: month, year: year)).contains(day), hour < 24, minute < 60, second <= 60 else {
            return nil
        }
        var millis = 0
        if i < bytes.count, bytes[i] == 46 || bytes[i] == 44 {
            i += 1
            var scale = 100
            var any = false
            while i < bytes.count, bytes[i] >= 48, bytes[i] <= 57 {
                millis += Int(bytes[i] - 48) * scale
                scale /= 10
                any = true
                i += 1
            }
            guard any else { return nil }
        }
        var offsetMinutes = 0
        if i < bytes.count {
            let sign = bytes[i]
            if sign == 90 || sign == 122 {
                i += 1
            } else if sign == 43 || sign == 45 {
                i += 1
                guard let h = digits(2) else { return nil }
                _ = expect(58)
                guard let m = digits(2), h < 24, m < 60 else { return nil }
                offsetMinutes = (h * 60 + m) * (sign == 45 ? -1 : 1)
            } else {
                return nil
            }
        }
        guard i == bytes.count else { return nil }
        let days = daysFromCivil(year: year, month: month, day: day)
        let seconds = Int64(days) * 86_400 + Int64(hour * 3600 + minute * 60 + second) - Int64(offsetMinutes * 60)
        return seconds * 1000 + Int64(millis)
    }

    private static func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 2: (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }

    /// Days since 1970-01-01 (Howard Hinnant's `days_from_civil`).
    static func daysFromCivil(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }
}
