// Original file: protos/meshid/v1/admin.proto


export interface DeleteEntryResponse {
}

export interface DeleteEntryResponse__Output {
}
