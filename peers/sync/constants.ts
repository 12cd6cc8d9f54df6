/** Constants shared by the sync services. */

/** Mesh whose protocol ids a service uses when its `Init` names none (the peer option's default). */
export const DEFAULT_MESH = 'agora'
