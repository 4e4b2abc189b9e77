/* version.h — the release of nara that every binary reports. */
#ifndef NARA_VERSION_H
#define NARA_VERSION_H
#define NARA_VERSION "0.1.0"
#endif
