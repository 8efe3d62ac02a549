"""The gRPC servicers: proto <-> domain, with the auth, the error mapping and the metadata keys they share."""
