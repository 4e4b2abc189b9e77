/*
 * uuid.h — random (version 4) UUIDs for message and conversation ids.
 */
#ifndef NARA_UUID_H
#define NARA_UUID_H

/* Write a fresh lower-case RFC 4122 version 4 UUID ("xxxxxxxx-xxxx-4xxx-
 * yxxx-xxxxxxxxxxxx", 36 characters plus NUL) into out. Randomness comes
 * from OpenSSL's CSPRNG; returns -1 (out set to "") if it fails. */
int uuid_random(char out[37]);

#endif
