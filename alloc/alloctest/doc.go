// Package alloctest holds fixtures for allocator tests and the conformance
// suite every allocation policy must pass.
//
// Run it on a policy from a test:
//
//	func TestMyPolicy(t *testing.T) {
//		alloctest.Run(t, func() alloc.Policy { return MyPolicy{} })
//	}
//
// The suite drives the allocator through seeded random sequences of
// operations (agents and frameworks coming and going, offers accepted in
// part, declined with filters, tasks ending, suppress, revive) and checks
// after every step that no agent is over-allocated and no resource is lost
// or duplicated; that the same operations give the same offers; that a
// filtered agent is not offered to its decliner before the filter expires;
// that suppressed or inactive frameworks get nothing; and that revive
// clears filters.
package alloctest
