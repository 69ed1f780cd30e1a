package satoken

// Mode says whose data a parser reads. A write is checked strictly,
// so a mistake is refused with what to change; stored data is read the way
// Vault's built-in method reads it, so whatever that method accepted and
// stored keeps working after a switch-over, trusting exactly what it trusted.
type Mode int

const (
	Strict Mode = iota
	Stored
)
