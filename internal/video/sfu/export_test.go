package sfu

// RoomCount returns how many rooms the SFU holds, for the tests.
func (s *SFU) RoomCount() int { return s.roomCount() }
