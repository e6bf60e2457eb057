// Local stand-in for github.com/Venafi/vcert/v5, which the Go module proxy
// will not serve. cert-manager's root module requires it, but only its Venafi
// issuer packages import it, and the peer main in ../main.go links none of
// them, so this module provides no packages at all. If a build ever reports a
// missing package under github.com/Venafi/vcert/v5, a Venafi package has been
// pulled in by mistake: drop that import rather than growing this stub.
module github.com/Venafi/vcert/v5

go 1.26.0
