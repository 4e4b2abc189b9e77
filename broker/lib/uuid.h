/*
 * uuid.h — UUIDs for message and conversation ids.
 */
#ifndef NARA_UUID_H
#define NARA_UUID_H

/* Write a fresh lower-case RFC 4122 version 4 UUID ("xxxxxxxx-xxxx-4xxx-
 * yxxx-xxxxxxxxxxxx", 36 characters plus NUL) into out. Randomness comes
 * from OpenSSL's CSPRNG; returns -1 (out set to "") if it fails. */
int uuid_random(char out[37]);

/* The same for a time-ordered version 7 UUID (RFC 9562): the first 48
 * bits are the Unix time in milliseconds, then a 12-bit counter (so that
 * the ids one thread makes always grow, also within a millisecond), then
 * random bits. Ids that grow with time are what narad's store indexes
 * most cheaply (docs/PROTOCOL.md, message_id). */
int uuid_time_ordered(char out[37]);

#endif
