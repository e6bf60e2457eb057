import type { UpstreamPlugin } from '../../api/upstream-authority.js';
import { readFilesSettings, type FilesSettings } from './config.js';
import { FilesAuthority } from './files-authority.js';

/** `ca.upstream.type: files`: an operator-supplied CA from files (Istio cacerts or a kubernetes.io/tls secret). */
export const filesUpstream: UpstreamPlugin<FilesSettings> = {
  type: 'files',
  readSettings: readFilesSettings,
  create: (settings, { trustDomain, log, registry }) => new FilesAuthority({ ...settings, trustDomain }, { log, registry }),
};
