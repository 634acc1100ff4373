
/*
 * Copyright (C) The Tern developers
 */


#include <tn_config.h>
#include <tn_core.h>
#include <tn_mail_dkim.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/curve25519.h>
#include <openssl/err.h>
#include <openssl/mem.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>


/*
 * tern [-p P] [-c C] dkim keygen DOMAIN SELECTOR [rsa|ed25519] [FILE]
 *
 * Writes a new private key (PEM, PKCS #8, mode 0600; never over an
 * existing file) to FILE, by default PREFIX/dkim/DOMAIN.SELECTOR.key,
 * and prints the TXT record to publish.
 */


#define TN_DKIM_RSA_BITS   2048
/* a TXT character-string holds 255 bytes */
#define TN_DKIM_TXT_CHUNK  255


static EVP_PKEY *tn_mail_dkim_keygen(tn_uint_t ed25519);
static tn_int_t tn_mail_dkim_write_key(tn_cycle_t *cycle, EVP_PKEY *pkey,
    char *path, tn_uint_t mkdir_parent);
static tn_int_t tn_mail_dkim_cli_name(const char *s);


static void
tn_mail_dkim_usage(void)
{
    fprintf(stderr, "usage: tern [-p prefix] [-c file] dkim keygen DOMAIN "
                    "SELECTOR [rsa|ed25519] [FILE]\n");
}


int
tn_mail_dkim_cli(tn_cycle_t *cycle, int argc, char *const *argv)
{
    size_t     i, n;
    tn_str_t   name, p;
    tn_uint_t  ed25519, dflt;
    EVP_PKEY  *pkey;

    if (argc < 4 || argc > 6 || strcmp(argv[1], "keygen") != 0) {
        tn_mail_dkim_usage();
        return 1;
    }

    if (tn_mail_dkim_cli_name(argv[2]) != TN_OK
        || tn_mail_dkim_cli_name(argv[3]) != TN_OK)
    {
        fprintf(stderr, "tern: invalid domain or selector\n");
        return 1;
    }

    /* DNS names are printed and used in file names in lower case */

    for (n = 0; argv[2][n]; n++) {
        argv[2][n] = tn_tolower(argv[2][n]);
    }

    for (n = 0; argv[3][n]; n++) {
        argv[3][n] = tn_tolower(argv[3][n]);
    }

    ed25519 = 0;
    i = 4;

    if (argc > 4 && strcmp(argv[4], "ed25519") == 0) {
        ed25519 = 1;
        i++;

    } else if (argc > 4 && strcmp(argv[4], "rsa") == 0) {
        i++;
    }

    if ((int) i + 1 < argc) {
        tn_mail_dkim_usage();
        return 1;
    }

    dflt = ((int) i == argc);

    if (dflt) {
        n = sizeof("dkim/..key") + strlen(argv[2]) + strlen(argv[3]);
        name.data = tn_pnalloc(cycle->pool, n);
        if (name.data == NULL) {
            return 1;
        }

        name.len = tn_sprintf(name.data, "dkim/%s.%s.key", argv[2], argv[3])
                   - name.data;

    } else {
        name.data = (u_char *) argv[i];
        name.len = strlen(argv[i]);
    }

    if (tn_conf_full_name(cycle, &name, 0) != TN_OK) {
        return 1;
    }

    pkey = tn_mail_dkim_keygen(ed25519);
    if (pkey == NULL) {
        fprintf(stderr, "tern: key generation failed\n");
        return 1;
    }

    if (tn_dkim_public_key(cycle->pool, pkey, &p) != TN_OK
        || tn_mail_dkim_write_key(cycle, pkey, (char *) name.data, dflt)
           != TN_OK)
    {
        EVP_PKEY_free(pkey);
        return 1;
    }

    EVP_PKEY_free(pkey);

    /* the record, in strings of at most 255 bytes */

    printf("%s._domainkey.%s IN TXT \"v=DKIM1; k=%s; \"", argv[3], argv[2],
           ed25519 ? "ed25519" : "rsa");

    for (i = 0; i < p.len; i += n) {
        n = tn_min(p.len - i, (size_t) TN_DKIM_TXT_CHUNK - (i ? 0 : 2));
        printf(" \"%s%.*s\"", i ? "" : "p=", (int) n, p.data + i);
    }

    printf("\n");

    fprintf(stderr, "tern: key written to %s; configure it with:\n"
                    "    dkim_sign %s %s %s;\n",
            name.data, argv[2], argv[3], name.data);

    return 0;
}


static tn_int_t
tn_mail_dkim_cli_name(const char *s)
{
    tn_str_t  v;

    v.data = (u_char *) s;
    v.len = strlen(s);

    return tn_dkim_name_valid(&v);
}


static EVP_PKEY *
tn_mail_dkim_keygen(tn_uint_t ed25519)
{
    RSA       *rsa;
    BIGNUM    *e;
    uint8_t    pub[32], priv[64];
    EVP_PKEY  *pkey;

    if (ed25519) {
        ED25519_keypair(pub, priv);

        /* the seed: the first half of BoringSSL's private key */
        pkey = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, priv,
                                            32);
        OPENSSL_cleanse(priv, sizeof(priv));

        return pkey;
    }

    pkey = NULL;
    rsa = RSA_new();
    e = BN_new();

    if (rsa == NULL || e == NULL || !BN_set_word(e, RSA_F4)
        || !RSA_generate_key_ex(rsa, TN_DKIM_RSA_BITS, e, NULL))
    {
        goto failed;
    }

    pkey = EVP_PKEY_new();

    if (pkey == NULL || !EVP_PKEY_assign_RSA(pkey, rsa)) {
        goto failed;
    }

    BN_free(e);

    return pkey;

failed:

    EVP_PKEY_free(pkey);
    RSA_free(rsa);
    BN_free(e);

    return NULL;
}


static tn_int_t
tn_mail_dkim_write_key(tn_cycle_t *cycle, EVP_PKEY *pkey, char *path,
    tn_uint_t mkdir_parent)
{
    int         fd;
    BIO        *bio;
    char       *slash;
    size_t      len;
    ssize_t     n;
    tn_int_t    rc;
    const u_char  *pem;

    if (mkdir_parent) {
        slash = strrchr(path, '/');
        *slash = '\0';

        if (mkdir(path, 0700) == -1 && errno != EEXIST) {
            fprintf(stderr, "tern: mkdir(\"%s\") failed: %s\n", path,
                    strerror(errno));
            return TN_ERROR;
        }

        *slash = '/';
    }

    bio = BIO_new(BIO_s_mem());

    if (bio == NULL
        || !PEM_write_bio_PKCS8PrivateKey(bio, pkey, NULL, NULL, 0, NULL,
                                          NULL)
        || !BIO_mem_contents(bio, &pem, &len))
    {
        BIO_free(bio);
        fprintf(stderr, "tern: PEM encoding failed\n");
        return TN_ERROR;
    }

    rc = TN_ERROR;

    fd = open(path, O_WRONLY|O_CREAT|O_EXCL|O_NOFOLLOW, 0600);

    if (fd == -1) {
        fprintf(stderr, "tern: open(\"%s\") failed: %s\n", path,
                strerror(errno));
        goto done;
    }

    n = write(fd, pem, len);

    if (n != (ssize_t) len || fsync(fd) == -1) {
        fprintf(stderr, "tern: writing \"%s\" failed: %s\n", path,
                strerror(errno));
        close(fd);
        unlink(path);
        goto done;
    }

    if (close(fd) == -1) {
        fprintf(stderr, "tern: close(\"%s\") failed: %s\n", path,
                strerror(errno));
        unlink(path);
        goto done;
    }

    rc = TN_OK;

done:

    /* the memory BIO held the private key */
    BIO_free(bio);

    return rc;
}


tn_int_t
tn_dkim_public_key(tn_pool_t *pool, EVP_PKEY *pkey, tn_str_t *p)
{
    int        len;
    u_char    *der, raw[32];
    size_t     n;
    tn_str_t   src;

    der = NULL;

    if (EVP_PKEY_id(pkey) == EVP_PKEY_ED25519) {
        n = sizeof(raw);

        if (!EVP_PKEY_get_raw_public_key(pkey, raw, &n)) {
            return TN_ERROR;
        }

        src.data = raw;
        src.len = n;

    } else {
        len = i2d_PUBKEY(pkey, &der);

        if (len <= 0) {
            return TN_ERROR;
        }

        src.data = der;
        src.len = len;
    }

    p->data = tn_pnalloc(pool, tn_base64_encoded_length(src.len) + 1);

    if (p->data != NULL) {
        tn_encode_base64(p, &src);
    }

    OPENSSL_free(der);
    ERR_clear_error();

    return p->data ? TN_OK : TN_ERROR;
}
